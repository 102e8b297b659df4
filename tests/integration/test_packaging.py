"""What PyPI would get works: wheels built from the workspace, installed from their files into a
fresh virtual environment outside it, serve a chat completion end to end; and the release
checks of ``tests/distcheck.py`` (``tox -e build``) catch what they should."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from plugbay.testing import Reply, ScriptedUpstream
from tests import distcheck
from tests.helpers import Served, clean_env, run_cli

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ("plugbay", "plugbay-openai", "plugbay-keys")
READY_TIMEOUT = 120.0  # a cold start from a fresh environment, with the other core busy
INSTALL_TIMEOUT = 600.0
MASTER = "sk-test-fresh-venv-0123456789"

CLIENT = """
import json, sys
import openai

url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)
reply = client.chat.completions.create(
    model="relayed", messages=[{"role": "user", "content": "who answers?"}]
)
streamed = "".join(
    chunk.choices[0].delta.content or ""
    for chunk in client.chat.completions.create(
        model="relayed",
        messages=[{"role": "user", "content": "streamed from the upstream"}],
        stream=True,
    )
    if chunk.choices
)
print(json.dumps({
    "content": reply.choices[0].message.content,
    "model": reply.model,
    "streamed": streamed,
    "sdk": openai.__version__,
}))
"""

WHERE = """
import importlib.metadata as metadata, json, pathlib, sys
import plugbay, plugbay_keys, plugbay_openai

def origin(name):
    dist = metadata.distribution(name)
    return {
        "version": dist.version,
        "direct_url": json.loads(dist.read_text("direct_url.json") or "null"),
        "license": any(str(f).endswith("licenses/LICENSE") for f in dist.files or ()),
    }

print(json.dumps({
    "files": [m.__file__ for m in (plugbay, plugbay_openai, plugbay_keys)],
    "py.typed": [
        (pathlib.Path(m.__file__).parent / "py.typed").is_file()
        for m in (plugbay, plugbay_openai, plugbay_keys)
    ],
    "dists": {name: origin(name) for name in sys.argv[1:]},
}))
"""


def completion(content: str) -> dict:
    return {
        "id": "chatcmpl-fresh",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted-upstream-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9},
    }


def venv_env(**extra: str) -> dict[str, str]:
    """The environment for the new venv's programs: nothing of the workspace's Python."""
    env = clean_env(**extra)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def run(*command: str | Path, cwd: Path, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=venv_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheels_install_into_a_fresh_venv_and_serve(tmp_path, record_property):
    assert not tmp_path.is_relative_to(ROOT)
    uv = shutil.which("uv")
    assert uv is not None, "uv must be on PATH: it builds the wheels and makes the venv"

    # The wheels, as `uv build` makes them for PyPI, and what the release checks say of them.
    wanted = [p for p in distcheck.projects() if p.name in INSTALLED]
    assert sorted(p.name for p in wanted) == sorted(INSTALLED)
    wheels = distcheck.build(tmp_path / "wheels", *wanted, wheel_only=True)
    names = [wheel.name for wheel in wheels]
    print("wheels:", *names, sep="\n    ")
    record_property("wheels", " ".join(names))
    assert distcheck.check(wheels, wanted, kinds=("wheel",)) == []

    # A fresh venv, outside the workspace, from the wheel files (dependencies from the index).
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv, cwd=tmp_path)
    run(uv, "pip", "install", "--quiet", "--python", python, *wheels, "openai>=1.50",
        cwd=tmp_path, timeout=INSTALL_TIMEOUT)  # fmt: skip
    frozen = run(uv, "pip", "freeze", "--python", python, cwd=tmp_path)
    print("installed:", *frozen.splitlines(), sep="\n    ")

    empty = tmp_path / "empty"
    empty.mkdir()
    where = json.loads(run(python, "-c", WHERE, *INSTALLED, cwd=empty))
    assert all(Path(file).is_relative_to(venv) for file in where["files"]), where["files"]
    assert where["py.typed"] == [True, True, True]
    for project in wanted:
        dist = where["dists"][project.name]
        assert dist["version"] == project.version
        assert dist["license"], f"{project.name}: no LICENSE installed"
        # installed from a wheel file: an archive, not an editable or a directory
        assert "archive_info" in dist["direct_url"], dist["direct_url"]
        assert dist["direct_url"]["url"].endswith(".whl")
    missing = subprocess.run(
        [python, "-c", "import plugbay_echo"], cwd=empty, env=venv_env(), capture_output=True
    )
    assert missing.returncode == 1, "a plugin that was not installed is importable"

    listed = run_cli("plugins", "--json", cwd=empty, env=venv_env(), python=python)
    assert listed.returncode == 0, listed.stderr
    found = {p["name"]: (p["distribution"], p["version"]) for p in json.loads(listed.stdout)}
    version = {p.name: p.version for p in wanted}
    assert {name: dist for name, dist in found.items() if dist[0]} == {
        "openai": ("plugbay-openai", version["plugbay-openai"]),
        "keys": ("plugbay-keys", version["plugbay-keys"]),
    }
    text = run_cli("plugins", cwd=empty, env=venv_env(), python=python).stdout
    print("plugbay plugins:", *text.splitlines(), sep="\n    ")
    for short in ("openai", "keys"):
        assert f"{short}  (plugbay-{short} {version[f'plugbay-{short}']})" in text.splitlines()

    with ScriptedUpstream() as upstream:
        upstream.script(Reply.json(completion("relayed from a fresh install")))
        (empty / "plugbay.toml").write_text(
            textwrap.dedent(f"""
            [[providers]]
            name = "upstream"
            type = "openai"
            base_url = "{upstream.base_url}"
            api_key = "sk-upstream-credential"

            [[models]]
            name = "relayed"
            provider = "upstream"
            upstream_model = "scripted-upstream-model"
            """)
        )
        env = venv_env(PLUGBAY_MASTER_KEY=MASTER)
        with Served(cwd=empty, env=env, python=python) as served:
            served.wait_ready(READY_TIMEOUT)
            # plugbay-keys from the wheel: a virtual key, made through the running gateway.
            admin = ("keys", "--url", served.url, "--key", MASTER, "--json")
            created = run_cli(
                *admin, "create", "fresh-venv", "--model", "relayed",
                cwd=empty, env=venv_env(), python=python,
            )  # fmt: skip
            assert created.returncode == 0, created.stderr
            key = json.loads(created.stdout)["key"]
            assert key.startswith("pb-")
            answer = json.loads(run(python, "-c", CLIENT, served.url + "/v1", key, cwd=empty))
        print("answer:", json.dumps(answer))
        assert served.process.returncode == 0, served.stderr  # SIGTERM: a graceful stop

        assert answer["content"] == "relayed from a fresh install"
        assert answer["model"] == "relayed"  # the public name, not the upstream's
        assert answer["streamed"] == "streamed from the upstream"
        first, second = upstream.requests
        assert first.path == second.path == "/v1/chat/completions"
        assert first.headers["authorization"] == "Bearer sk-upstream-credential"
        assert first.json()["model"] == "scripted-upstream-model"
        assert second.json()["stream"] is True
    assert "Traceback" not in served.stderr, served.stderr


# --- the release checks themselves -------------------------------------------------------------

LICENSE = (ROOT / "LICENSE").read_text()
README = "# plugbay-openai\n\nSee [the docs](https://github.com/plugbay/plugbay#readme).\n"
GOOD_METADATA = f"""\
Metadata-Version: 2.4
Name: plugbay-openai
Version: 0.1.0
Project-URL: Homepage, https://github.com/plugbay/plugbay
Project-URL: Documentation, https://github.com/plugbay/plugbay/blob/main/plugins/openai/README.md
Project-URL: Source, https://github.com/plugbay/plugbay/tree/main/plugins/openai
Project-URL: Changelog, https://github.com/plugbay/plugbay/blob/main/CHANGELOG.md
Project-URL: Issues, https://github.com/plugbay/plugbay/issues
License-Expression: Apache-2.0
License-File: LICENSE
Keywords: llm,gateway
Classifier: Development Status :: 3 - Alpha
Classifier: Framework :: AsyncIO
Classifier: Programming Language :: Python :: 3.11
Classifier: Programming Language :: Python :: 3.12
Classifier: Programming Language :: Python :: 3.13
Classifier: Topic :: Internet :: WWW/HTTP :: HTTP Servers
Classifier: Typing :: Typed
Requires-Dist: plugbay<0.2,>=0.1
Requires-Dist: google-auth[requests]<3,>=2.20; extra == 'vertex'
Requires-Dist: cryptography>=42
Description-Content-Type: text/markdown

{README}"""
INFO = "plugbay_openai-0.1.0.dist-info"


@pytest.fixture
def project(tmp_path) -> distcheck.Project:
    source = tmp_path / "openai"
    source.mkdir()
    (source / "README.md").write_text(README)
    return distcheck.Project(source, "plugbay-openai", "0.1.0", "plugbay_openai")


def make_wheel(directory: Path, metadata: str = GOOD_METADATA, **files: str) -> Path:
    contents = {
        f"{INFO}/METADATA": metadata,
        f"{INFO}/licenses/LICENSE": LICENSE,
        f"{INFO}/entry_points.txt": "[plugbay]\nopenai = plugbay_openai\n",
        "plugbay_openai/__init__.py": "",
        "plugbay_openai/py.typed": "",
        **files,
    }
    path = directory / "plugbay_openai-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in contents.items():
            if text is not None:
                archive.writestr(name, text)
    return path


def test_a_complete_wheel_passes(tmp_path, project):
    assert distcheck.check([make_wheel(tmp_path)], [project], kinds=("wheel",)) == []


def test_a_wheel_missing_each_requirement_fails(tmp_path, project):
    metadata = (
        GOOD_METADATA.replace("License-Expression: Apache-2.0\n", "")
        .replace("Classifier: Typing :: Typed\n", "Classifier: License :: OSI Approved\n")
        .replace("Requires-Dist: plugbay<0.2,>=0.1", "Requires-Dist: plugbay>=0.1")
        .replace("<3,>=2.20", ">=2.20")
        .replace("https://github.com/plugbay/plugbay/issues", "https://example.com/issues")
        .replace("See [the docs]", "Other text")
    )
    (project.path / "README.md").write_text("See [admin](docs/admin.md).\n\n[x]: ../LICENSE\n")
    wheel = make_wheel(
        tmp_path,
        metadata,
        **{f"{INFO}/licenses/LICENSE": "MIT", "plugbay_openai/py.typed": None},
    )
    problems = "\n".join(distcheck.check([wheel], [project], kinds=("wheel",)))
    for expected in (
        "License-Expression is None",
        "a License classifier beside License-Expression",
        "no classifier 'Typing :: Typed'",
        "plugbay>=0.1 is not pinned to <0.2,>=0.1",
        'google-auth[requests]>=2.20; extra == "vertex" has no upper bound',
        "Project-URL Issues is 'https://example.com/issues'",
        "the long description is not openai/README.md",
        "relative link 'docs/admin.md'",
        "relative link '../LICENSE'",
        "LICENSE is not the repository's Apache-2.0 text",
        "no plugbay_openai/py.typed",
    ):
        assert expected in problems
    assert "cryptography" not in problems  # the one documented exception


def test_a_wheel_without_its_entry_point_or_license_file_fails(tmp_path, project):
    wheel = make_wheel(
        tmp_path,
        **{
            f"{INFO}/entry_points.txt": "[console_scripts]\nx = y\n",
            f"{INFO}/licenses/LICENSE": None,
        },
    )
    assert distcheck.check([wheel], [project], kinds=("wheel",)) == [
        f"{wheel.name}: no {INFO}/licenses/LICENSE",
        f"{wheel.name}: no `openai = plugbay_openai` in [plugbay]",
    ]


def test_an_sdist_without_its_license_fails(tmp_path, project):
    path = tmp_path / "plugbay_openai-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in {
            "PKG-INFO": GOOD_METADATA,
            "README.md": README,
            "pyproject.toml": "",
            "src/plugbay_openai/py.typed": "",
        }.items():
            data = text.encode()
            member = tarfile.TarInfo(f"plugbay_openai-0.1.0/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    assert distcheck.check([path], [project]) == [
        f"{path.name}: no plugbay_openai-0.1.0/LICENSE",
        "plugbay-openai: no wheel built",
    ]


def test_missing_and_stray_artefacts_are_reported(tmp_path, project):
    stray = tmp_path / "other-1.0-py3-none-any.whl"
    stray.write_bytes(b"")
    assert distcheck.check([stray], [project]) == [
        f"{stray.name}: not a distribution of this workspace",
        "plugbay-openai: no sdist built",
        "plugbay-openai: no wheel built",
    ]
