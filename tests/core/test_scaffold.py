"""``plugbay new plugin``: what it writes is a distribution whose own tests pass.

The full round trip (a fresh venv, ``pip install -e .``, ``plugbay serve``) is in
tests/integration/test_scaffold.py; here the scaffold's tests run on this environment's
plugbay, with the package on ``PYTHONPATH``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from click.testing import CliRunner

from plugbay._cli import cli
from plugbay._scaffold import VERSION_POLICY
from tests.helpers import clean_env


def new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["new", "plugin", *args])
    return result.exit_code, result.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "test_file", "module"),
    [("adapter", "test_conformance.py", "provider.py"), ("policy", "test_policy.py", "policy.py")],
)
def test_the_scaffold_passes_its_own_tests(tmp_path, kind, test_file, module):
    code, output = new("acme-ai", "--kind", kind, "-d", str(tmp_path))
    assert code == 0, output
    root = tmp_path / "plugbay-acme-ai"
    assert f"Created {root}" in output
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["name"] == "plugbay-acme-ai"
    assert project["dependencies"] == [VERSION_POLICY] == ["plugbay>=0.1,<0.2"]
    assert project["entry-points"]["plugbay"] == {"acme-ai": "plugbay_acme_ai"}
    for path in (
        "README.md",
        "LICENSE",
        "src/plugbay_acme_ai/__init__.py",
        "src/plugbay_acme_ai/py.typed",
    ):
        assert (root / path).is_file(), path
    assert (root / "src" / "plugbay_acme_ai" / module).is_file()
    assert "plugbay._" not in (root / "src" / "plugbay_acme_ai" / module).read_text()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=clean_env(PYTHONPATH=str(root / "src")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " failed" not in result.stdout
    assert "passed" in result.stdout
    if kind == "adapter":
        assert "17 passed" in result.stdout  # the whole conformance suite ran


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
