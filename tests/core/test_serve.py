"""``plugbay serve`` as a real subprocess: auth bootstrap, defaults, workers, signals."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import Served, clean_env, free_port

pytestmark = pytest.mark.slow

KEY_LINE = re.compile(r"^    (pb-master-[A-Za-z0-9_-]{43})$", re.MULTILINE)
ENDPOINTS = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/nope"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/admin/plugins"),
]


def core_only(**extra: str) -> dict[str, str]:
    """No entry-point plugins, whatever else is installed in this environment."""
    return clean_env(PLUGBAY_PLUGINS="", **extra)


def assert_key_works_everywhere(url: str, key: str) -> None:
    for method, path in ENDPOINTS:
        body = {"model": "nope", "messages": [{"role": "user", "content": "x"}], "input": "x"}
        anonymous = httpx.request(method, url + path, json=body)
        assert anonymous.status_code == 401, (method, path)
        keyed = httpx.request(
            method, url + path, json=body, headers={"authorization": f"Bearer {key}"}
        )
        assert keyed.status_code in (200, 404), (method, path, keyed.text)  # no model "nope"
        also = httpx.request(method, url + path, json=body, headers={"x-api-key": key})
        assert also.status_code == keyed.status_code


def files_of(db: Path) -> list[Path]:
    return [p for p in db.parent.iterdir() if p.name.startswith(db.name)]


def test_first_start_creates_a_master_key_once(tmp_path):
    with Served(cwd=tmp_path, env=core_only()) as served:
        served.wait_ready()
        match = KEY_LINE.search(served.stdout)
        assert match, served.stdout
        key = match[1]
        assert f"Authorization: Bearer {key}" in served.stdout
        # core alone serves no model: the curl line lists the models
        assert f"curl http://127.0.0.1:{served.port}/v1/models" in served.stdout
        assert_key_works_everywhere(served.url, key)
        db = tmp_path / "plugbay.db"
        assert db.exists()
        for file in files_of(db):  # main file, WAL and shared memory
            assert key.encode() not in file.read_bytes(), file
    for file in files_of(db):
        assert key.encode() not in file.read_bytes(), file

    with Served(cwd=tmp_path, env=core_only()) as again:
        again.wait_ready()
        assert "pb-master-" not in again.stdout + again.stderr
        assert_key_works_everywhere(again.url, key)  # the stored hash still accepts it


def test_a_configured_master_key_is_used_and_nothing_is_created(tmp_path):
    env = core_only(PLUGBAY_MASTER_KEY="sk-from-env-0123456789")
    with Served(cwd=tmp_path, env=env) as served:
        served.wait_ready()
        assert "pb-master-" not in served.stdout
        assert_key_works_everywhere(served.url, "sk-from-env-0123456789")
    (tmp_path / "plugbay.toml").write_text('[auth]\nmaster_key = "sk-from-file-0123456789"\n')
    with Served(cwd=tmp_path, env=core_only()) as served:
        served.wait_ready()
        assert "pb-master-" not in served.stdout
        assert_key_works_everywhere(served.url, "sk-from-file-0123456789")


def test_no_auth_is_explicit_and_logged(tmp_path):
    with Served("--no-auth", cwd=tmp_path, env=core_only()) as served:
        served.wait_ready()
        assert "authentication is disabled (--no-auth)" in served.stderr
        assert "pb-master-" not in served.stdout
        assert httpx.get(served.url + "/v1/models").status_code == 200
        assert httpx.get(served.url + "/admin/plugins").status_code == 200


def test_defaults_come_from_plugbay_toml_in_the_working_directory(tmp_path):
    port = free_port()
    (tmp_path / "plugbay.toml").write_text(
        f'[server]\nport = {port}\ndatabase = "data/registry.db"\n'
        '[auth]\nmaster_key = "sk-test-0123456789"\n'
    )
    with Served(cwd=tmp_path, port=port, pass_port=False, env=core_only()) as served:
        served.wait_ready()
        # host defaults to 127.0.0.1
        assert f"Uvicorn running on http://127.0.0.1:{port}" in served.stderr
        assert (tmp_path / "data" / "registry.db").exists()
        assert not (tmp_path / "plugbay.db").exists()


def test_host_and_port_options_win_over_the_file(tmp_path):
    (tmp_path / "plugbay.toml").write_text('[server]\nport = 1\nhost = "10.255.255.1"\n')
    with Served("--host", "127.0.0.1", cwd=tmp_path, env=core_only(), pass_port=True) as served:
        served.wait_ready()


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_workers_share_one_port_and_exit_cleanly(tmp_path):
    env = core_only(PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served("--workers", "2", cwd=tmp_path, env=env) as served:
        served.wait_ready()
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline:
            workers = [p for p in children(served.process.pid) if _is_worker(p)]
            if len(workers) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, workers
        for _ in range(20):
            response = httpx.get(
                served.url + "/v1/models", headers={"authorization": "Bearer sk-test-0123456789"}
            )
            assert response.status_code == 200
        served.signal(signal.SIGTERM)
        assert served.wait() == 0, served.stderr
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)


def _is_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmdline  # not multiprocessing's resource tracker


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_with_exit_0(tmp_path, signum):
    env = core_only(PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served(cwd=tmp_path, env=env) as served:
        served.wait_ready()
        served.signal(signum)
        assert served.wait() == 0, served.stderr
        assert "Traceback" not in served.stderr
