"""Registry writes under another writer's lock; the files' modes; what the debug log shows."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest

from plugbay._auth import hash_key
from plugbay._registry import RegistryBusy, Store
from tests.core.support import CANNED_CONFIG, canned

CHAT = {"model": "canned", "messages": [{"role": "user", "content": "hi"}]}
SECRET = "sk-upstream-never-in-a-log-0123456789"
DEADLINE = 30.0
"""Seconds to wait for something that normally takes milliseconds (the machine may be busy)."""


@contextmanager
def locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process's view: a connection holding the write lock until the block ends."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
        if other.in_transaction:
            other.execute("ROLLBACK")
    finally:
        other.close()


def set_meta(db: sqlite3.Connection, key: str, value: str) -> str:
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
    return value


def admin(gw) -> httpx.Client:
    return gw.http()


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def wait_for(condition, what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_write_waits_out_another_writers_lock(tmp_path):
    path = tmp_path / "r.db"

    async def main() -> None:
        store = await Store(path).open()
        try:
            with locked(path) as other:
                write = asyncio.create_task(store.write(set_meta, "k", "v"))
                deadline = time.monotonic() + DEADLINE
                while store._writer is not None and store._writer.busy < 2:
                    assert time.monotonic() < deadline
                    assert not write.done()
                    await asyncio.sleep(0.01)  # the write has met the lock (twice), and waits
                other.execute("ROLLBACK")
                assert await write == "v"
            assert await store.get_meta("k") == "v"
        finally:
            await store.close()

    asyncio.run(main())


def test_a_write_that_cannot_get_the_lock_in_time_is_a_503(tmp_path):
    path = tmp_path / "r.db"

    async def main() -> RegistryBusy:
        store = await Store(path, write_timeout=0.3).open()
        try:
            with locked(path):
                started = time.monotonic()
                with pytest.raises(RegistryBusy) as info:
                    await store.write(set_meta, "k", "v")
                assert time.monotonic() - started >= 0.3
            assert await store.get_meta("k") is None
            assert await store.write(set_meta, "k", "v") == "v"  # the lock is free again
        finally:
            await store.close()
        return info.value

    error = asyncio.run(main())
    assert error.status_code == 503
    body = msgspec.json.decode(error.body())
    assert body["error"]["type"] == "server_error"
    assert body["error"]["code"] == "registry_busy"
    assert error.headers == {"retry-after": "1"}


def test_a_write_function_runs_again_after_busy_and_its_errors_roll_back(tmp_path):
    path = tmp_path / "r.db"
    calls: list[int] = []

    def insert_then_fail(db: sqlite3.Connection) -> None:
        calls.append(1)
        set_meta(db, "half", "done")
        raise ValueError("refused")

    async def main() -> None:
        store = await Store(path).open()
        try:
            with pytest.raises(ValueError, match="refused"):
                await store.write(insert_then_fail)
            assert await store.get_meta("half") is None  # rolled back
            assert calls == [1]  # an ordinary error is not retried
        finally:
            await store.close()

    asyncio.run(main())


def test_admin_writes_answer_503_not_500_while_the_lock_is_held(make_client, tmp_path):
    path = tmp_path / "gw.db"
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    gw.gateway.store.write_timeout = 0.3
    with admin(gw) as http:
        with locked(path):
            answer = http.post("/admin/keys", json={"name": "app"})
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            error = answer.json()["error"]
            assert error["code"] == "registry_busy"
            assert error["type"] == "server_error"
            assert "locked" in error["message"]
            # reads and the request path do not need the lock
            assert http.get("/admin/keys").status_code == 200
            assert gw.openai().chat.completions.create(**CHAT).choices
        assert http.post("/admin/keys", json={"name": "app"}).status_code == 201
    assert count(path, "keys") == 1


def test_usage_batches_wait_for_the_lock_and_are_never_lost(make_client, tmp_path, caplog):
    path = tmp_path / "gw.db"
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    gw.gateway.store.write_timeout = 0.2
    client = gw.openai()
    with caplog.at_level(logging.WARNING, logger="plugbay._usage"), locked(path):
        for _ in range(5):
            client.chat.completions.create(**CHAT)
        wait_for(lambda: "writing usage records" in caplog.text, "a usage write to meet the lock")
        assert count(path, "usage") == 0
    wait_for(lambda: count(path, "usage") == 5, "the usage batch to be written")
    gw.stop()
    assert count(path, "usage") == 5  # written once: nothing lost, nothing twice


def test_registry_files_are_private(tmp_path):
    path = tmp_path / "new" / "r.db"
    previous = os.umask(0o022)
    try:

        async def main() -> None:
            store = await Store(path).open()
            try:
                await store.write(set_meta, "k", "v")
                for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
            finally:
                await store.close()

        asyncio.run(main())
    finally:
        os.umask(previous)


def test_a_registry_file_others_can_read_is_reported(tmp_path, caplog):
    path = tmp_path / "r.db"
    path.touch()
    path.chmod(0o644)

    async def main() -> None:
        await (await Store(path).open()).close()

    with caplog.at_level(logging.WARNING, logger="plugbay._registry"):
        asyncio.run(main())
    assert f"{path} is open to other users (mode 644)" in caplog.text


def test_the_debug_log_shows_no_sql_values_and_no_polling(
    make_client, tmp_path, caplog, monkeypatch
):
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", "test-secret-key-for-the-log")
    polls = 0
    polled = threading.Event()
    changed = Store.changed

    async def counting(self: Store) -> bool:
        nonlocal polls
        polls += 1
        if polls >= 8:
            polled.set()
        return await changed(self)

    monkeypatch.setattr(Store, "changed", counting)
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "gw.db"
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    with admin(gw) as http:
        key = http.post("/admin/keys", json={"name": "app"}).json()["key"]
        answer = http.post(
            "/admin/providers", json={"name": "up", "type": "canned", "api_key": SECRET}
        )
        assert answer.status_code == 201, answer.text
    gw.openai().chat.completions.create(**CHAT)
    polls = 0
    assert polled.wait(DEADLINE), "the watcher did not poll"
    gw.stop()
    with sqlite3.connect(path) as db:
        ciphertext = db.execute("SELECT secret FROM providers WHERE name = 'up'").fetchone()[0]
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "schema version" in logged  # the capture does see DEBUG records
    for needle in (hash_key(key), key, SECRET, ciphertext.hex(), repr(ciphertext)[2:40]):
        assert needle not in logged
    assert "data_version" not in logged
    assert "INSERT" not in logged
    assert "SELECT" not in logged
    assert not [r for r in caplog.records if r.name.startswith("aiosqlite")]
