"""Budgets and slots in Redis: exact across nodes, leases that expire with their holder."""

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

from plugbay._settings import Settings
from plugbay.testing import ServeProcess, install_plugin
from plugbay_ratelimit.window import Hold, Scope, digest
from plugbay_redis.ratelimit import RedisLimitStore


def scope(name: str, parallel: int | None = None) -> Scope:
    return Scope(name, digest(name), None, None, parallel)


def store_for(url: str, **redis_table) -> RedisLimitStore:
    return RedisLimitStore(Settings(extra={"redis": {"url": url, "timeout": 2.0, **redis_table}}))


def money(cost: int, budget: int = 10, spent: int = 0, slot: bool = False) -> Hold:
    return Hold(slot, budget, spent, cost)


@pytest.mark.anyio
async def test_a_budget_is_exact_across_nodes(redis_url):
    nodes = [store_for(redis_url), store_for(redis_url)]
    for node in nodes:
        await node.start()
    key = scope("key:shared")
    decisions = await asyncio.gather(*(nodes[i % 2].charge([key], 0, money(1)) for i in range(60)))
    assert sum(d.admitted for d in decisions) == 10
    refused = [d for d in decisions if not d.admitted]
    assert {d.refused for d in refused} == {("key:shared", "budget", 10, 10)}
    assert {d.retry_after for d in refused} == {1.0}  # reservations in flight may come back
    # settle five to their real cost: 0 for one, 1 for the others (unrecorded until recorded)
    admitted = [(nodes[i % 2], d) for i, d in enumerate(decisions) if d.admitted]
    receipts = []
    for index, (node, decision) in enumerate(admitted[:5]):
        receipt = await node.settle([key], decision.bucket, 0, decision.lease, min(index, 1))
        if receipt is not None:
            receipts.append((node, receipt))
    assert len(receipts) == 4
    assert not (await nodes[0].charge([key], 0, money(2))).admitted  # 5 reserved + 4 spent
    assert (await nodes[0].charge([key], 0, money(1))).admitted
    again = await nodes[1].charge([key], 0, money(1))
    assert again.refused == ("key:shared", "budget", 10, 10)
    # the registry recorded them: 4 spent, which the store now counts once, as the baseline
    for node, receipt in receipts:
        await node.recorded([receipt], [], [(key, 4)])
    assert (await nodes[1].charge([key], 0, money(1, spent=4))).refused[3] == 10
    for node in nodes:
        await node.aclose()


@pytest.mark.anyio
async def test_settling_twice_changes_nothing(redis_url):
    store = store_for(redis_url)
    await store.start()
    key = scope("key:twice", parallel=1)
    first = await store.charge([key], 0, money(5, slot=True))
    assert first.admitted
    assert (await store.charge([key], 0, money(1, slot=True))).refused[1] == "parallel"
    assert await store.settle([key], first.bucket, 0, first.lease, 3) is not None
    await store.settle([key], first.bucket, 0, first.lease, 3)  # a retry after a timeout
    second = await store.charge([key], 0, money(7, slot=True))  # 3 unrecorded + 7
    assert second.admitted
    await store.settle([key], second.bucket, 0, first.lease, 0)  # a stale lease: no effect
    assert (await store.charge([key], 0, money(0, slot=True))).refused[1] == "parallel"
    await store.aclose()


@pytest.mark.anyio
async def test_recording_before_a_lost_settlement_arrives(redis_url):
    store = store_for(redis_url)
    await store.start()
    key = scope("key:late", parallel=1)
    first = await store.charge([key], 0, money(8, slot=True))
    # its settling timed out (to be sent again); the usage was written meanwhile
    await store.recorded([], [("key:late", first.lease, 3)], [])  # kept: 3 spent
    assert (await store.charge([key], 0, money(8, slot=True))).refused == (
        "key:late",
        "budget",
        10,
        3,
    )
    await store.settle([key], first.bucket, 0, first.lease, 3)  # the retry: no effect now
    assert (await store.charge([key], 0, money(7, slot=True))).admitted
    await store.aclose()


@pytest.mark.anyio
async def test_a_holder_that_stops_renewing_loses_its_leases(redis_url):
    dying = store_for(redis_url, lease_ttl=0.6)
    other = store_for(redis_url, lease_ttl=0.6)
    await dying.start()
    await other.start()
    key = scope("key:lease", parallel=1)
    assert (await dying.charge([key], 0, money(10, slot=True))).admitted
    await asyncio.sleep(1.0)  # renewals keep it alive: several lease times later, still held
    assert (await other.charge([key], 0, money(1, slot=True))).refused[1] == "parallel"
    # the holder dies: no more renewals, no goodbye
    dying._renewer.cancel()
    await dying.client.aclose()
    died = time.monotonic()
    while not (await other.charge([key], 0, money(10, slot=True))).admitted:
        assert time.monotonic() - died < 5.0
        await asyncio.sleep(0.05)
    assert time.monotonic() - died >= 0.3  # not before its lease ran out
    await other.aclose()


@pytest.mark.anyio
async def test_closing_gives_everything_back_at_once(redis_url):
    first, second = store_for(redis_url), store_for(redis_url)
    await first.start()
    await second.start()
    key = scope("key:bye", parallel=1)
    decision = await first.charge([key], 0, money(4, slot=True))
    assert await first.settle([key], decision.bucket, 0, decision.lease, 4) is not None
    held = await first.charge([key], 0, money(6, slot=True))
    assert held.admitted
    assert not (await second.charge([key], 0, money(1, slot=True))).admitted
    await first.aclose()
    assert (await second.charge([key], 0, money(10, slot=True))).admitted
    await second.aclose()


# --- two gateway nodes ----------------------------------------------------------------------

PLUGIN = """
import os

from plugbay import Principal, hookimpl
from plugbay.testing.fake import FakeOptions, FakeProvider


class Keys:
    async def authenticate(self, token, headers):
        if token == "key-budget":
            return Principal(key_id="budget", max_budget=0.005)
        if token == "key-slots":
            return Principal(key_id="slots", max_parallel=1)
        return None


class Fake(FakeProvider):
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
"""

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

[redis]
url = "{url}"
timeout = 2.0

[ratelimit]
backend = "redis"
"""

HELLO = [{"role": "user", "content": "a b c d e"}]  # the fake answers 5 tokens: $0.0005


def nodes(tmp_path: Path, redis_url: str) -> list[ServeProcess]:
    site = install_plugin(tmp_path / "site", "budget_keys", PLUGIN)
    env = {"PLUGBAY_PLUGINS": "budget_keys,ratelimit,redis", "PYTHONPATH": str(site)}
    found = []
    for node in ("a", "b"):  # separate databases: nothing shared but Redis
        (tmp_path / node).mkdir(exist_ok=True)
        config = tmp_path / node / "plugbay.toml"
        config.write_text(CONFIG.format(db=tmp_path / node / "plugbay.db", url=redis_url))
        found.append(ServeProcess("--config", str(config), cwd=tmp_path / node, env=env))
    return found


def chat(url: str, key: str, timeout: float = 30, **extra) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(
            url + "/v1/chat/completions",
            json={"model": "priced", "messages": HELLO, **extra},
            headers={"authorization": f"Bearer key-{key}"},
        )


async def burst(urls: list[str], count: int, **extra) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=count), timeout=60) as client:
        body = {"model": "priced", "messages": HELLO, **extra}
        headers = {"authorization": "Bearer key-budget"}
        return await asyncio.gather(
            *(
                client.post(
                    urls[i % len(urls)] + "/v1/chat/completions", json=body, headers=headers
                )
                for i in range(count)
            )
        )


@pytest.mark.slow
def test_two_nodes_admit_exactly_what_the_budget_covers(redis_url, tmp_path: Path):
    servers = nodes(tmp_path, redis_url)
    try:
        for server in servers:
            server.start(60)
        answers = asyncio.run(burst([s.url for s in servers], 50, max_tokens=5))
        after = [chat(s.url, "budget", max_tokens=1) for s in servers]
    finally:
        for server in servers:
            server.stop()
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429] * 40
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["error"]["code"] for a in refused} == {"budget_exceeded"}
    assert [a.status_code for a in after] == [429, 429]
    total = 0.0
    for node in ("a", "b"):
        with sqlite3.connect(tmp_path / node / "plugbay.db") as db:
            total += db.execute("SELECT TOTAL(cost_usd) FROM usage").fetchone()[0]
    assert total == pytest.approx(0.005)  # settled to the real costs, on both nodes together


@pytest.mark.slow
def test_a_killed_nodes_slot_comes_back_within_seconds(redis_url, tmp_path: Path):
    first, second = nodes(tmp_path, redis_url)
    try:
        first.start(60)
        second.start(60)
        pidfile = tmp_path / "pid"
        answer: list[object] = []

        def hang() -> None:
            try:
                answer.append(
                    chat(first.url, "slots", timeout=300, x_delay=240, x_pidfile=str(pidfile))
                )
            except httpx.TransportError as exc:
                answer.append(exc)

        thread = threading.Thread(target=hang, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the slow request never reached the upstream"
            time.sleep(0.01)
        busy = chat(second.url, "slots")
        assert busy.status_code == 429, busy.text
        os.kill(int(pidfile.read_text()), signal.SIGKILL)  # the whole node: one worker
        killed = time.monotonic()
        while (again := chat(second.url, "slots")).status_code != 200:
            assert again.status_code == 429, again.text
            assert time.monotonic() - killed < 5.0, "the dead node's slot is still taken"
            time.sleep(0.05)
        thread.join(30)
        assert isinstance(answer[0], httpx.TransportError)
    finally:
        first.stop()
        second.stop()
