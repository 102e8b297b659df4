"""Admin writes from every worker of ``plugbay serve --workers 2`` while chat traffic writes
usage: none may fail because another process holds the registry's write lock."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter

import httpx
import pytest

from plugbay._admin import keys as key_ops
from plugbay._admin.shapes import KeyCreate
from plugbay._crypto import SecretBox
from plugbay._pricing import Price
from plugbay._registry import Store
from plugbay._settings import ModelSettings, ProviderSettings
from plugbay.testing import ServeProcess, install_plugin

pytestmark = pytest.mark.slow

MASTER = "sk-test-master-registry-0123456789"
SECRET_KEY = "test-secret-key-for-the-registry-under-load"
KEYS = 400
UPDATES = 40
CHATTERS = 16

CONFIG = """
[server]
database = "gw.db"

[[providers]]
name = "echo"
type = "echo"

[[models]]
name = "echo"
provider = "echo"
"""

# Counts, in each worker, the requests marked `x-test-op`, and writes the counts at shutdown:
# which worker served which admin writes (an authenticator that never authenticates).
COUNTER = """
import json, os

from plugbay import hookimpl


class Counter:
    def __init__(self):
        self.counts = {}

    async def authenticate(self, token, headers):
        op = headers.get("x-test-op")
        if op:
            self.counts[op] = self.counts.get(op, 0) + 1
        return None

    async def aclose(self):
        path = os.path.join(os.environ["TEST_COUNTS"], f"{os.getpid()}.json")
        with open(path, "w") as file:
            json.dump(self.counts, file)


@hookimpl(tryfirst=True)
def plugbay_register_authenticators(register):
    register(Counter())
"""


async def seed(path) -> str:
    """Before serving: a priced model (so chat usage adds to the key's spend), a chat key, and
    a provider with an encrypted api key and a model of its own, for the admin API to edit."""
    store = await Store(path).open()
    try:
        view = await key_ops.create(store, KeyCreate(name="chat"))
        await store.models.set_price("echo", Price(input=1.0, output=2.0))
        provider = ProviderSettings(name="api-echo", type="echo")
        secret = SecretBox(SECRET_KEY).encrypt("sk-api-echo-0123456789", context="api-echo")
        await store.providers.add(provider, secret)
        await store.models.add(ModelSettings(name="api-echo", provider="api-echo"))
    finally:
        await store.close()
    assert view.key is not None
    return view.key


def test_admin_writes_from_every_worker_never_fail_during_chat_load(tmp_path):
    (tmp_path / "plugbay.toml").write_text(CONFIG)
    chat_key = asyncio.run(seed(tmp_path / "gw.db"))
    counts = tmp_path / "counts"
    counts.mkdir()
    site = install_plugin(tmp_path / "site", "write_counter", COUNTER)
    env = {
        "PLUGBAY_MASTER_KEY": MASTER,
        "PLUGBAY_SECRET_KEY": SECRET_KEY,
        "PYTHONPATH": str(site),
        "TEST_COUNTS": str(counts),
    }
    server = ServeProcess("--workers", "2", cwd=tmp_path, env=env)
    server.start(120, ready_workers=2)  # generous: the other core may be busy
    try:
        admin, chats, took = asyncio.run(load(server.url, chat_key))
    finally:
        server.stop()
    assert server.process is not None
    assert server.process.returncode == 0, server.output

    statuses = Counter(status for status, _ in admin)
    failed = [(status, body) for status, body in admin if not 200 <= status < 300]
    assert not failed, (statuses, failed[:3])
    assert len(admin) == KEYS + 2 * UPDATES
    assert set(chats) == {200}, Counter(chats)
    assert len(chats) >= CHATTERS  # there was chat traffic throughout
    workers = [json.loads(path.read_text()) for path in counts.glob("*.json")]
    assert len(workers) == 2, workers
    assert all(worker.get("admin-write", 0) > 0 for worker in workers), workers

    with sqlite3.connect(tmp_path / "gw.db") as db:
        usage = db.execute("SELECT COUNT(*), SUM(cost_usd) FROM usage").fetchone()
        keys = db.execute("SELECT COUNT(*) FROM keys WHERE name LIKE 'load-%'").fetchone()[0]
        spend = db.execute("SELECT spend FROM keys WHERE name = 'chat'").fetchone()[0]
        headers = db.execute("SELECT settings FROM providers WHERE name = 'api-echo'").fetchone()
    assert usage[0] == len(chats)  # every usage row written, none twice
    assert keys == KEYS
    assert spend == pytest.approx(usage[1])  # the key's spend kept pace with its usage
    assert json.loads(headers[0])["headers"]["x-update"] in {str(i) for i in range(UPDATES)}
    print(  # the measured outcome, for the record (pytest -s)
        f"\n{len(admin)} admin writes ({dict(statuses)}) from 2 workers {workers} in "
        f"{took:.1f} s, during {len(chats)} chat requests"
    )


async def load(url: str, chat_key: str) -> tuple[list[tuple[int, str]], list[int], float]:
    """Chat traffic until every admin write has been answered; the answers, and how long."""
    done = asyncio.Event()
    flowing = asyncio.Event()
    chats: list[int] = []
    admin: list[tuple[int, str]] = []
    timeout = httpx.Timeout(120)
    chat_headers = {"authorization": f"Bearer {chat_key}"}
    # a fresh connection for every admin write, so both workers accept some
    admin_headers = {
        "authorization": f"Bearer {MASTER}",
        "connection": "close",
        "x-test-op": "admin-write",
    }
    limits = httpx.Limits(max_connections=KEYS + 2 * UPDATES + CHATTERS)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:

        async def chatter(index: int) -> None:
            while not done.is_set():
                answer = await client.post(
                    "/v1/chat/completions",
                    headers=chat_headers,
                    json={
                        "model": "echo",
                        "stream": index % 2 == 0,
                        "messages": [{"role": "user", "content": "one two three"}],
                    },
                )
                await answer.aread()
                chats.append(answer.status_code)
                flowing.set()

        async def write(method: str, path: str, body: dict[str, object]) -> None:
            answer = await client.request(method, path, headers=admin_headers, json=body)
            admin.append((answer.status_code, answer.text[:300]))

        chatters = [asyncio.create_task(chatter(i)) for i in range(CHATTERS)]
        await flowing.wait()  # chat traffic is flowing before the writes start
        started = time.monotonic()
        writes = [write("POST", "/admin/keys", {"name": f"load-{i}"}) for i in range(KEYS)]
        for i in range(UPDATES):
            provider = {"headers": {"x-update": str(i)}}
            writes.insert(i * 10, write("PATCH", "/admin/providers/api-echo", provider))
            price = {"price": {"input": float(i), "output": 1.0}}
            writes.insert(i * 10 + 5, write("PATCH", "/admin/models/api-echo", price))
        await asyncio.gather(*writes)
        took = time.monotonic() - started
        done.set()
        await asyncio.gather(*chatters)
    return admin, chats, took
