"""Budgets and slots across real worker processes: ``plugbay serve --workers 2``, ``kill -9``."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from plugbay.testing import ServeProcess, install_plugin

pytestmark = pytest.mark.slow

PLUGIN = '''
import os

from plugbay import Principal, hookimpl
from plugbay.testing.fake import FakeOptions, FakeProvider


class Keys:
    """key-budget: $0.005 to spend; key-slots: one request in flight."""

    async def authenticate(self, token, headers):
        if token == "key-budget":
            return Principal(key_id="budget", max_budget=0.005)
        if token == "key-slots":
            return Principal(key_id="slots", max_parallel=1)
        return None


class Fake(FakeProvider):
    """The fake adapter; ``x_pidfile`` names a file it writes this worker's pid to."""

    async def chat(self, request):
        path = request.body.get("x_pidfile")
        if path:
            with open(path + ".tmp", "w") as file:
                file.write(str(os.getpid()))
            os.replace(path + ".tmp", path)
        return await super().chat(request)


@hookimpl
def plugbay_register_authenticators(register):
    register(Keys())


@hookimpl
def plugbay_register_adapters(register):
    register("fake", Fake, options=FakeOptions)
'''

CONFIG = """
[server]
database = "{db}"

[[providers]]
name = "local"
type = "fake"

[[models]]
name = "priced"
provider = "local"
price = {{ input = 0.0, output = 100.0 }}
"""

HELLO = [{"role": "user", "content": "a b c d e"}]  # the fake answers 5 tokens: $0.0005


def serve(tmp_path: Path, workers: int = 2) -> ServeProcess:
    site = install_plugin(tmp_path / "site", "budget_keys", PLUGIN)
    config = tmp_path / "plugbay.toml"
    config.write_text(CONFIG.format(db=tmp_path / "plugbay.db"))
    env = {"PLUGBAY_PLUGINS": "budget_keys,ratelimit", "PYTHONPATH": str(site)}
    args = ("--config", str(config), "--workers", str(workers))
    return ServeProcess(*args, cwd=tmp_path, env=env)


def chat(url: str, key: str, timeout: float = 30, **extra) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:  # a new connection: any worker
        return client.post(
            url + "/v1/chat/completions",
            json={"model": "priced", "messages": HELLO, **extra},
            headers={"authorization": f"Bearer key-{key}"},
        )


async def burst(urls: list[str], count: int, key: str, **extra) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=count), timeout=60) as client:
        body = {"model": "priced", "messages": HELLO, **extra}
        headers = {"authorization": f"Bearer key-{key}"}
        return await asyncio.gather(
            *(
                client.post(
                    urls[i % len(urls)] + "/v1/chat/completions", json=body, headers=headers
                )
                for i in range(count)
            )
        )


def recorded_costs(database: Path) -> tuple[int, float]:
    with sqlite3.connect(database) as db:
        count, total = db.execute(
            "SELECT COUNT(*), TOTAL(cost_usd) FROM usage WHERE status = 200"
        ).fetchone()
    return count, total


class Holder:
    """A request that hangs in the upstream (``x_delay``) until its worker is killed."""

    def __init__(self, url: str, pidfile: Path) -> None:
        self.answer: httpx.Response | Exception | None = None
        self.thread = threading.Thread(target=self._run, args=(url, pidfile), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not pidfile.exists():  # it reached the upstream: its slot is taken
            assert time.monotonic() < deadline, "the slow request never reached the upstream"
            time.sleep(0.01)
        self.pid = int(pidfile.read_text())

    def _run(self, url: str, pidfile: Path) -> None:
        try:
            self.answer = chat(url, "slots", timeout=300, x_delay=240, x_pidfile=str(pidfile))
        except Exception as exc:  # the worker died under it
            self.answer = exc


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def test_two_workers_admit_exactly_what_the_budget_covers(tmp_path: Path):
    server = serve(tmp_path)
    try:
        server.start(60, ready_workers=2)
        answers = asyncio.run(burst([server.url], 50, "budget", max_tokens=5))
        after = chat(server.url, "budget", max_tokens=1)
    finally:
        server.stop()
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429] * 40
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["error"]["code"] for a in refused} == {"budget_exceeded"}
    assert after.status_code == 429
    assert after.headers["x-should-retry"] == "false"
    count, total = recorded_costs(tmp_path / "plugbay.db")  # settled: the real costs
    assert count == 10
    assert total == pytest.approx(0.005)


def test_slots_of_a_killed_worker_come_back_within_seconds_and_after_a_restart(tmp_path: Path):
    server = serve(tmp_path)
    try:
        server.start(60, ready_workers=2)
        holder = Holder(server.url, tmp_path / "pid-1")
        busy = chat(server.url, "slots")
        assert busy.status_code == 429, busy.text
        assert "requests in flight" in busy.json()["error"]["message"]
        kill(holder.pid)
        killed = time.monotonic()
        while (answer := chat(server.url, "slots")).status_code != 200:
            assert answer.status_code == 429, answer.text
            assert time.monotonic() - killed < 5.0, "the dead worker's slot is still taken"
            time.sleep(0.05)
        holder.thread.join(30)
        assert isinstance(holder.answer, Exception) or holder.answer.status_code >= 500

        # now kill everything while a worker holds the slot: nobody is left to give it back
        holder = Holder(server.url, tmp_path / "pid-2")
        assert chat(server.url, "slots").status_code == 429
        supervisor = server.process.pid
        workers = children(supervisor)
        kill(supervisor)
        for pid in workers:
            kill(pid)
        server.process.wait(30)
        holder.thread.join(30)
    finally:
        server.stop()
    assert (tmp_path / "plugbay.ratelimit").is_file()  # the state file kept its leases
    restarted = serve(tmp_path)
    try:
        restarted.start(60, ready_workers=2)
        assert chat(restarted.url, "slots").status_code == 200
    finally:
        restarted.stop()


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found
