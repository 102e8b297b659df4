"""Plugins scaffolded outside the repository (``plugbay new plugin``, an adapter and a
policy), installed with ``pip install -e .`` into a fresh virtual environment beside plugbay,
pass their own tests and are served by ``plugbay serve``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from plugbay.testing import ScriptedUpstream
from tests.helpers import Served, clean_env, run_cli
from tests.integration.test_external_plugin import pinned_versions

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MASTER = "sk-test-scaffold-0123456789"

CONFIG = """
[[providers]]
name = "acme"
type = "acme"
base_url = "{base_url}"
api_key = "sk-acme-upstream-secret"

[[models]]
name = "acme-model"
provider = "acme"
upstream_model = "their-model"
"""


def install(tmp_path: Path, *plugins: Path) -> Path:
    """A venv with core (from the workspace, not editable), the plugins (editable) and their
    test extras: what a plugin author's ``pip install -e '.[test]'`` gives."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = shutil.which("uv")
    if uv is not None:
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        command = [uv, "pip", "install", "--quiet", "--python", str(python)]
        constraints = pinned_versions(tmp_path)
        if constraints is not None:
            command += ["--constraint", str(constraints)]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        command = [str(python), "-m", "pip", "install", "--quiet"]
    command.append(str(REPO / "core"))
    for plugin in plugins:
        command += ["-e", f"{plugin}[test]"]
    subprocess.run(command, check=True, timeout=600, env=clean_env())
    return python


def run_tests(python: Path, plugin: Path) -> str:
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(),
        check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    return tests.stdout


def test_scaffolded_plugins_pass_their_tests_and_are_served(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name, kind in (("acme", "adapter"), ("guard", "policy")):
        made = run_cli("new", "plugin", name, "--kind", kind, cwd=elsewhere)
        assert made.returncode == 0, made.stderr
    adapter, policy = elsewhere / "plugbay-acme", elsewhere / "plugbay-guard"
    python = install(tmp_path, adapter, policy)

    where = subprocess.run(
        [str(python), "-c", "import plugbay, plugbay_acme; print(plugbay.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        env=clean_env(),
    )
    assert str(tmp_path / "venv") in where.stdout  # core installed, not the workspace's

    assert "17 passed" in run_tests(python, adapter)  # the whole conformance suite
    assert "4 passed" in run_tests(python, policy)

    listed = run_cli("plugins", cwd=tmp_path, python=python)
    assert listed.returncode == 0, listed.stderr
    assert "acme  (plugbay-acme 0.1.0)" in listed.stdout.splitlines()
    assert "guard  (plugbay-guard 0.1.0)" in listed.stdout.splitlines()

    with ScriptedUpstream() as upstream:  # answers like OpenAI: echoes the last message
        (tmp_path / "plugbay.toml").write_text(CONFIG.format(base_url=upstream.base_url))
        env = clean_env(PLUGBAY_MASTER_KEY=MASTER)
        with Served(cwd=tmp_path, env=env, python=python) as served:
            served.wait_ready()
            client = openai.OpenAI(base_url=served.url + "/v1", api_key=MASTER, max_retries=0)
            with client:
                raw = client.chat.completions.with_raw_response.create(
                    model="acme-model", messages=[{"role": "user", "content": "hi from acme"}]
                )
                answer = raw.parse()
                streamed = "".join(
                    chunk.choices[0].delta.content or ""
                    for chunk in client.chat.completions.create(
                        model="acme-model",
                        messages=[{"role": "user", "content": "streamed too"}],
                        stream=True,
                    )
                    if chunk.choices
                )
        assert raw.headers["x-guard-in-flight"] == "1"  # the policy admitted it
        assert answer.model == "acme-model"
        assert answer.choices[0].message.content == "hi from acme"
        assert streamed == "streamed too"
        sent = upstream.requests[0]
        assert sent.json()["model"] == "their-model"
        assert sent.headers["authorization"] == "Bearer sk-acme-upstream-secret"
