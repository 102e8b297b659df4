"""Keys and usage across real worker processes and signals."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Callable

import httpx
import pytest

from plugbay.testing import ServeProcess

pytestmark = pytest.mark.slow

MASTER = "sk-test-master-workers-0123456789"
PROPAGATION = 15.0
CONFIG = """
[server]
database = "gw.db"

[[providers]]
name = "echo"
type = "echo"
chunk_delay = {delay}

[[models]]
name = "echo"
provider = "echo"
"""


def serve(tmp_path, *args, delay=0.0) -> ServeProcess:
    (tmp_path / "plugbay.toml").write_text(CONFIG.format(delay=delay))
    return ServeProcess(*args, cwd=tmp_path, env={"PLUGBAY_MASTER_KEY": MASTER})


def chat(url: str, key: str, **extra) -> httpx.Response:
    # a new connection every time, so the kernel spreads requests across the workers
    with httpx.Client(timeout=10) as client:
        return client.post(
            url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}], **extra},
        )


def settled(url: str, key: str, expect: Callable[[httpx.Response], bool]) -> list[httpx.Response]:
    """Twenty answers in a row that meet ``expect``, each on a new connection (any worker).

    A change reaches a worker when its registry watcher next looks (every 0.25 s, so within
    a second on a quiet machine); the deadline is for a busy one.
    """
    deadline = time.monotonic() + PROPAGATION
    run: list[httpx.Response] = []
    while len(run) < 20:
        answer = chat(url, key)
        run = [*run, answer] if expect(answer) else []
        assert time.monotonic() < deadline, f"not every worker changed: {answer.text}"
    return run


def test_new_and_revoked_keys_reach_every_worker(tmp_path):
    with serve(tmp_path, "--workers", "2") as gateway:
        pids = gateway.wait_ready(workers=2)
        assert len(pids) == 2
        with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {MASTER}"}) as h:
            created = h.post("/admin/keys", json={"name": "app"}).json()
        key = created["key"]
        settled(gateway.url, key, lambda a: a.status_code == 200)
        with httpx.Client(base_url=gateway.url, headers={"authorization": f"Bearer {MASTER}"}) as h:
            assert h.delete(f"/admin/keys/{created['id']}").status_code == 200
        answers = settled(gateway.url, key, lambda a: a.status_code == 401)
        assert {a.json()["error"]["code"] for a in answers} == {"key_revoked"}


def test_no_usage_record_is_lost_across_sigterm_during_a_burst(tmp_path):
    gateway = serve(tmp_path, "--workers", "2", delay=0.002).start(ready_workers=2)
    answered: list[int] = []

    async def burst() -> None:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def one(index: int) -> None:
                try:
                    answer = await client.post(
                        gateway.url + "/v1/chat/completions",
                        headers={"authorization": f"Bearer {MASTER}"},
                        json={
                            "model": "echo",
                            "stream": index % 2 == 0,
                            "messages": [{"role": "user", "content": "a b c d e"}],
                        },
                    )
                    await answer.aread()
                    answered.append(answer.status_code)
                except httpx.TransportError:
                    pass  # refused once shutdown began: never answered, never recorded

            tasks = [asyncio.create_task(one(i)) for i in range(500)]
            deadline = time.monotonic() + 60
            while len(answered) < 50:  # the burst is well under way: then stop the gateway
                assert time.monotonic() < deadline, f"only {len(answered)} answers"
                await asyncio.sleep(0.01)
            gateway.signal(signal.SIGTERM)
            await asyncio.gather(*tasks)

    try:
        asyncio.run(burst())
        assert gateway.wait(60) == 0, gateway.output
    finally:
        gateway.stop()  # if the test failed first: not left serving
    with sqlite3.connect(tmp_path / "gw.db") as db:
        recorded = db.execute("SELECT COUNT(*) FROM usage").fetchone()[0]
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM usage GROUP BY status"))
    assert recorded == len(answered), (recorded, len(answered), statuses)
    assert statuses.get(200, 0) == answered.count(200)
