"""A plugin package written outside the repository, installed with an installer into a fresh
virtual environment beside plugbay, is discovered and serves a model without touching core."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import openai
import pytest

from tests.core.support import HELLO_CONFIG, HELLO_PLUGIN
from tests.helpers import Served, clean_env, run_cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

PYPROJECT = """
[project]
name = "plugbay-hello"
version = "0.3.1"
requires-python = ">=3.11"
dependencies = ["plugbay"]

[project.entry-points.plugbay]
hello = "plugbay_hello"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/plugbay_hello"]
"""


def write_package(root: Path) -> Path:
    package = root / "plugbay-hello"
    source = package / "src" / "plugbay_hello"
    source.mkdir(parents=True)
    (package / "pyproject.toml").write_text(PYPROJECT)
    (source / "__init__.py").write_text(textwrap.dedent(HELLO_PLUGIN))
    return package


def pinned_versions(tmp_path: Path) -> Path | None:
    """This environment's versions, so the new one resolves from the installer's cache."""
    uv = shutil.which("uv")
    if uv is None:
        return None
    frozen = subprocess.run(
        [uv, "pip", "freeze", "--python", sys.executable],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [
        line
        for line in frozen.splitlines()
        if "==" in line and not line.startswith(("plugbay", "-e"))
    ]
    path = tmp_path / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_venv(tmp_path: Path, *packages: Path) -> Path:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv is not None:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        constraints = pinned_versions(tmp_path)
        command = [uv, "pip", "install", "--quiet", "--python", str(python)]
        if constraints is not None:
            command += ["--constraint", str(constraints)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        command = [str(python), "-m", "pip", "install", "--quiet"]
    subprocess.run([*command, *map(str, packages)], check=True, timeout=300)
    return python


def test_an_external_plugin_package_is_discovered_and_serves(tmp_path):
    package = write_package(tmp_path / "elsewhere")
    python = make_venv(tmp_path, REPO / "core", package)

    # Only core and the new package: no workspace path leaks in.
    check = subprocess.run(
        [str(python), "-c", "import plugbay, plugbay_hello; print(plugbay.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    assert str(tmp_path / "venv") in check.stdout
    assert (
        subprocess.run(
            [str(python), "-c", "import plugbay_echo"], capture_output=True, env=clean_env()
        ).returncode
        == 1
    )

    listed = run_cli("plugins", cwd=tmp_path, python=python)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[:3] == [
        "hello  (plugbay-hello 0.3.1)",
        "    plugbay_register_adapters",
        "    plugbay_register_commands",
    ]
    assert run_cli("hello", "you", cwd=tmp_path, python=python).stdout == (
        "hello you, from a plugin\n"
    )

    (tmp_path / "plugbay.toml").write_text(HELLO_CONFIG)
    env = clean_env(PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served(cwd=tmp_path, env=env, python=python) as served:
        served.wait_ready()
        client = openai.OpenAI(
            base_url=served.url + "/v1", api_key="sk-test-0123456789", max_retries=0
        )
        with client:
            assert [m.id for m in client.models.list().data] == ["hello-model"]
            answer = client.chat.completions.create(
                model="hello-model", messages=[{"role": "user", "content": "hi"}]
            )
        assert answer.choices[0].message.content == "hello from a plugin"
        assert answer.model == "hello-model"
