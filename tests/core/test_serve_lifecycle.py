"""``plugbay serve`` as a new user meets it: the first key, a busy port, a second Ctrl-C."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import SERVE_TIMEOUT, Served, clean_env, run_cli

pytestmark = pytest.mark.slow

KEY_LINE = re.compile(r"^    (pb-master-[A-Za-z0-9_-]{43})$", re.MULTILINE)
FAKE_PLUGIN = "from plugbay.testing.fake import plugbay_register_adapters\n"
CONFIG = """
[[providers]]
name = "local"
type = "fake"

[[models]]
name = "house-model"
provider = "local"
"""


def with_fake(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test kit's ``fake`` adapter as the only installed plugin."""
    from plugbay.testing import install_plugin

    site = install_plugin(tmp_path / "site", "local_fake", FAKE_PLUGIN)
    return clean_env(PLUGBAY_PLUGINS="local_fake", PYTHONPATH=str(site), **extra)


def printed_key(served: Served) -> str:
    match = KEY_LINE.search(served.stdout)
    assert match, served.stdout
    return match[1]


def meta(db: Path, key: str) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_a_start_on_a_busy_port_creates_no_master_key(tmp_path):
    env = clean_env(PLUGBAY_PLUGINS="")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = Served(cwd=tmp_path, port=port, env=env)
        assert served.wait() == 3, served.stderr
        assert "address already in use" in served.stderr.lower()
        assert "pb-master-" not in served.stdout
    db = tmp_path / "plugbay.db"
    assert not db.exists() or meta(db, "master_key_hash") is None
    with Served(cwd=tmp_path, env=env) as again:  # the next start is the first one
        again.wait_ready()
        key = printed_key(again)
        answer = httpx.get(again.url + "/v1/models", headers={"authorization": f"Bearer {key}"})
        assert answer.status_code == 200


def test_the_printed_curl_line_uses_a_model_the_config_serves(tmp_path):
    (tmp_path / "plugbay.toml").write_text(CONFIG)
    with Served(cwd=tmp_path, env=with_fake(tmp_path)) as served:
        served.wait_ready()
        key = printed_key(served)
        out = served.stdout
        assert f"curl {served.url}/v1/chat/completions" in out
        body = re.search(r"-d '(\{.*\})'$", out, re.MULTILINE)
        assert body, out
        request = json.loads(body[1])
        assert request["model"] == "house-model"
        answer = httpx.post(
            served.url + "/v1/chat/completions",
            json=request,
            headers={"authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "hi"


def test_without_models_the_curl_line_lists_models(tmp_path):
    with Served(cwd=tmp_path, env=clean_env(PLUGBAY_PLUGINS="")) as served:
        served.wait_ready()
        key = printed_key(served)
        assert f"curl {served.url}/v1/models -H 'Authorization: Bearer {key}'" in served.stdout
        assert "/v1/chat/completions" not in served.stdout


def wait_status(url: str, key: str, status: int) -> None:
    deadline = time.monotonic() + SERVE_TIMEOUT
    while True:
        got = httpx.get(url + "/v1/models", headers={"authorization": f"Bearer {key}"}).status_code
        if got == status:
            return
        assert time.monotonic() < deadline, f"{key[:14]}... still answers {got}"
        time.sleep(0.05)


def new_key_from(output: str) -> str:
    match = KEY_LINE.search(output)
    assert match, output
    return match[1]


def test_rotate_master_makes_a_new_key_and_revokes_the_old(tmp_path):
    env = clean_env(PLUGBAY_PLUGINS="")
    with Served("--workers", "2", cwd=tmp_path, env=env) as served:
        served.wait_ready()
        first = printed_key(served)
        wait_status(served.url, first, 200)

        # on the registry directly, while the gateway runs: every worker notices
        result = run_cli("keys", "rotate-master", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        second = new_key_from(result.stdout)
        assert second != first
        for _ in range(6):  # new connections: both workers
            wait_status(served.url, first, 401)
            wait_status(served.url, second, 200)

        # against the running gateway, with the current master key
        remote = [*("keys", "--url", served.url, "--key", second), "rotate-master"]
        result = run_cli(*remote, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        third = new_key_from(result.stdout)
        wait_status(served.url, second, 401)
        wait_status(served.url, third, 200)

        # the old key cannot rotate any more
        remote[4] = first
        result = run_cli(*remote, cwd=tmp_path, env=env)
        assert result.returncode != 0
        assert "401" in result.stderr
    assert first not in (tmp_path / "plugbay.db").read_bytes().decode("latin-1")


def test_rotate_master_refuses_a_configured_key(tmp_path):
    env = clean_env(PLUGBAY_PLUGINS="", PLUGBAY_MASTER_KEY="sk-configured-0123456789")
    result = run_cli("keys", "rotate-master", cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert "409" in result.stderr
    assert "PLUGBAY_MASTER_KEY" in result.stderr


def test_registry_commands_need_no_serving_variables(tmp_path):
    config = tmp_path / "plugbay.toml"
    config.write_text(
        '[auth]\nmaster_key = "${HOUSE_MASTER_KEY}"\n'
        '[[providers]]\nname = "local"\ntype = "fake"\nreply = "${HOUSE_REPLY}"\n'
        '[[models]]\nname = "house-model"\nprovider = "local"\n'
    )
    full = with_fake(tmp_path, HOUSE_MASTER_KEY="sk-house-0123456789", HOUSE_REPLY="from the file")
    with Served(cwd=tmp_path, env=full) as served:  # imports the provider and model
        served.wait_ready()
    bare = {k: v for k, v in full.items() if not k.startswith("HOUSE_")}
    created = run_cli("keys", "--json", "create", "ci", cwd=tmp_path, env=bare)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["key"].startswith("pb-")
    for command in (["keys", "list"], ["usage"], ["models", "list"], ["providers", "list"]):
        result = run_cli(*command, cwd=tmp_path, env=bare)
        assert result.returncode == 0, (command, result.stderr)
    assert "house-model" in run_cli("models", "list", cwd=tmp_path, env=bare).stdout

    # serving does need them, and says which one is missing
    served = Served(cwd=tmp_path, env=bare)
    assert served.wait() != 0
    assert "HOUSE_MASTER_KEY" in served.stderr
    # the registry commands left the imported entries as they were
    with Served(cwd=tmp_path, env=full) as served:
        served.wait_ready()
        answer = httpx.post(
            served.url + "/v1/chat/completions",
            json={"model": "house-model", "messages": [{"role": "user", "content": "x"}]},
            headers={"authorization": "Bearer sk-house-0123456789"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == "from the file"


def _slow_stream(url: str, key: str, started: threading.Event, outcome: list[str]) -> None:
    body = {
        "model": "house-model",
        "stream": True,
        "x_chunk_delay": 1.0,
        "messages": [{"role": "user", "content": "one two three four five six seven eight"}],
    }
    try:
        with httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {key}"},
            timeout=SERVE_TIMEOUT,
        ) as answer:
            for _ in answer.iter_bytes():
                started.set()
        outcome.append("finished")
    except httpx.HTTPError as exc:
        outcome.append(type(exc).__name__)
    finally:
        started.set()


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_second_signal_stops_now_without_a_traceback(tmp_path, workers, signum):
    (tmp_path / "plugbay.toml").write_text(CONFIG)
    env = with_fake(tmp_path, PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served("--workers", workers, cwd=tmp_path, env=env) as served:
        served.wait_ready()
        started, outcome = threading.Event(), []
        client = threading.Thread(
            target=_slow_stream, args=(served.url, "sk-test-0123456789", started, outcome)
        )
        client.start()
        assert started.wait(SERVE_TIMEOUT)
        served.signal(signum)
        deadline = time.monotonic() + SERVE_TIMEOUT  # the first signal is taken: draining
        while "Shutting down" not in served.stderr:
            assert time.monotonic() < deadline, served.stderr
            time.sleep(0.05)
        assert served.process.poll() is None  # still finishing the stream
        served.signal(signum)
        code = served.wait()
        client.join(SERVE_TIMEOUT)
    assert code == 128 + signum, served.stderr
    assert "stopping now" in served.stderr
    assert "Traceback" not in served.stderr + served.stdout
    assert len(outcome) == 1
    assert outcome != ["finished"]  # cut, not drained (8 words, 1 s apart)
    with sqlite3.connect(tmp_path / "plugbay.db") as conn:  # the cut stream is recorded
        rows = conn.execute("SELECT status FROM usage WHERE model = 'house-model'").fetchall()
    assert rows == [(499,)]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_logging_is_the_same_with_one_worker_or_many(tmp_path, workers):
    (tmp_path / "plugbay.toml").write_text(CONFIG + "\n[no_such_plugin]\nx = 1\n")
    env = with_fake(tmp_path, PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served("--workers", workers, cwd=tmp_path, env=env) as served:
        served.wait_ready()
        deadline = time.monotonic() + SERVE_TIMEOUT
        want = int(workers)
        while served.stderr.count("INFO:     plugbay: ready in") < want:  # every worker's
            assert time.monotonic() < deadline, served.stderr
            time.sleep(0.05)
    warnings = re.findall(
        r"^WARNING:     plugbay: .*\[no_such_plugin\] names no loaded plugin",
        served.stderr,
        re.MULTILINE,
    )
    assert len(warnings) == want, served.stderr
    for line in served.stderr.splitlines():  # nothing bare: every line says its level
        assert re.match(r"^(INFO|WARNING|ERROR|DEBUG|CRITICAL):", line), line
