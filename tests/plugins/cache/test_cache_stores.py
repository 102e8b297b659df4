"""The memory and SQLite stores: TTL, LRU bounds, partitions, persistence."""

from __future__ import annotations

import anyio
import pytest

from plugbay_cache import sqlite as sqlite_module
from plugbay_cache import stores as stores_module
from plugbay_cache.sqlite import SQLiteStore
from plugbay_cache.stores import MemoryStore, Partition

GLOBAL = Partition("", 3, 1000)


@pytest.fixture(params=["memory", "sqlite"])
async def store(request, tmp_path):
    made = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "c.db")
    await made.start()
    yield made
    await made.aclose()


@pytest.mark.anyio
async def test_lru_by_entries(store):
    for name in (b"a", b"b", b"c"):
        await store.set(name, b"v-" + name, 60, GLOBAL)
        await anyio.sleep(0.002)
    assert await store.get(b"a", GLOBAL) == b"v-a"  # a is now the most recently used
    await anyio.sleep(0.002)
    await store.set(b"d", b"v-d", 60, GLOBAL)  # (SQLite: writes the recorded hit first)
    present = {k for k in (b"a", b"b", b"c", b"d") if await store.get(k, GLOBAL)}
    assert len(present) == 3
    assert b"d" in present
    assert b"a" in present


@pytest.mark.anyio
async def test_lru_by_bytes_and_oversized_values(store):
    small = Partition("small", 100, 10)
    await store.set(b"a", b"12345", 60, small)
    await store.set(b"b", b"12345", 60, small)
    await store.set(b"c", b"123", 60, small)
    assert await store.get(b"a", small) is None
    assert await store.get(b"c", small) == b"123"
    await store.set(b"huge", b"x" * 11, 60, small)
    assert await store.get(b"huge", small) is None


class Clock:
    """Stands in for the ``time`` module in the stores: time passes when the test says."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    monotonic = time


@pytest.mark.anyio
async def test_ttl(store, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(stores_module, "time", clock)
    monkeypatch.setattr(sqlite_module, "time", clock)
    await store.set(b"k", b"v", 10, GLOBAL)
    clock.now += 9.9
    assert await store.get(b"k", GLOBAL) == b"v"
    clock.now += 0.2
    assert await store.get(b"k", GLOBAL) is None


@pytest.mark.anyio
async def test_partitions_evict_on_their_own(store):
    own = Partition("model:big", 1, 1000)
    await store.set(b"g1", b"1", 60, GLOBAL)
    await store.set(b"m1", b"1", 60, own)
    await store.set(b"m2", b"2", 60, own)
    assert await store.get(b"m1", own) is None
    assert await store.get(b"m2", own) == b"2"
    assert await store.get(b"g1", GLOBAL) == b"1"


@pytest.mark.anyio
async def test_sqlite_survives_a_restart_and_is_shared(tmp_path):
    path = tmp_path / "cache.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    await first.start()
    await second.start()
    await first.set(b"k", b"stored", 60, GLOBAL)
    assert await second.get(b"k", GLOBAL) == b"stored"
    await first.aclose()
    await second.aclose()
    again = SQLiteStore(path)
    await again.start()
    assert await again.get(b"k", GLOBAL) == b"stored"
    await again.aclose()


@pytest.mark.anyio
async def test_sqlite_records_hits_in_the_background(tmp_path, monkeypatch):
    monkeypatch.setattr(sqlite_module, "TOUCH_INTERVAL", 0.05)
    store = SQLiteStore(tmp_path / "cache.db")
    await store.start()
    await store.set(b"k", b"v", 60, GLOBAL)
    before = store._reader.execute("SELECT used FROM entries").fetchone()[0]
    await anyio.sleep(0.01)
    assert await store.get(b"k", GLOBAL) == b"v"
    with anyio.fail_after(30):  # written within TOUCH_INTERVAL, give or take a busy machine
        while True:  # nothing to wait on but the file
            after = store._reader.execute("SELECT used FROM entries").fetchone()[0]
            if after != before:
                break
            await anyio.sleep(0.01)
    assert after > before
    await store.aclose()
