"""``plugbay new plugin``: what it writes is a distribution whose own tests pass.

Running what it writes (a fresh venv, ``pip install -e .``, its own tests, ``plugbay
serve``) is tests/integration/test_scaffold.py; here: what it writes, and what it refuses.
"""

from __future__ import annotations

import tomllib

import pytest
from click.testing import CliRunner

from plugbay._cli import cli
from plugbay._scaffold import VERSION_POLICY


def new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["new", "plugin", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("kind", "test_file", "module"),
    [("adapter", "test_conformance.py", "provider.py"), ("policy", "test_policy.py", "policy.py")],
)
def test_the_scaffold_is_a_whole_distribution(tmp_path, kind, test_file, module):
    code, output = new("acme-ai", "--kind", kind, "-d", str(tmp_path))
    assert code == 0, output
    root = tmp_path / "plugbay-acme-ai"
    assert f"Created {root}" in output
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "plugbay-acme-ai"
    assert project["dependencies"] == [VERSION_POLICY] == ["plugbay>=0.1,<0.2"]
    assert project["entry-points"]["plugbay"] == {"acme-ai": "plugbay_acme_ai"}
    assert project["optional-dependencies"]["test"] == ["pytest>=8.3", "openai>=1.50"]
    package = root / "src" / "plugbay_acme_ai"
    for path in (root / "README.md", root / "LICENSE", package / "py.typed", package / module):
        assert path.is_file(), path
    assert (root / "tests" / test_file).is_file()
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "plugbay._" not in text, f"{source.name} imports a private module"
        compile(text, str(source), "exec")
    init = (package / "__init__.py").read_text()
    assert "@hookimpl" in init
    assert "__" not in init.replace("__future__", "").replace('"""', "")  # all filled in


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    for name in ("Acme", "acme_ai", "-acme", "acme--ai", "1acme"):
        code, output = new(name, "-d", str(tmp_path))
        assert code == 2, (name, output)
        assert "NAME" in output
    assert new("acme", "-d", str(tmp_path))[0] == 0
    code, output = new("acme", "-d", str(tmp_path))
    assert code == 1
    assert "exists already" in output
    assert list(tmp_path.iterdir()) == [tmp_path / "plugbay-acme"]
