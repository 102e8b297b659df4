"""The ``sqlite`` backend: one file shared by the workers of a machine; survives restarts.

Lookups are a primary-key read on a connection of the event loop's thread (WAL mode:
readers never wait for writers; ~10 µs, less than a hop to a thread and back). Writes
(storing, evicting, expiring) go to a second connection in a worker thread, one at a time.
A hit's "recently used" mark is kept in memory and written with the next store, or within
:data:`TOUCH_INTERVAL` seconds, so hits cost no write of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from pathlib import Path

from plugbay_cache.stores import Partition

__all__ = ["SQLiteStore"]

log = logging.getLogger("plugbay.cache")

TOUCH_INTERVAL = 5.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY,
    partition TEXT NOT NULL,
    expires REAL NOT NULL,
    used REAL NOT NULL,
    size INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (partition, used);
"""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout = 5000")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    return db


class SQLiteStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._touched: dict[bytes, float] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await asyncio.to_thread(self._open_writer)
        self._reader = _connect(self.path)
        self._reader.execute("PRAGMA busy_timeout = 200")
        self._flusher = asyncio.create_task(self._flush_touches(), name="plugbay-cache-touch")

    def _open_writer(self) -> sqlite3.Connection:
        db = _connect(self.path)
        db.executescript(_SCHEMA)
        return db

    async def get(self, key: bytes, partition: Partition) -> bytes | None:
        assert self._reader is not None, "SQLiteStore.start() was not awaited"
        now = time.time()
        row = self._reader.execute(
            "SELECT value FROM entries WHERE key = ? AND expires > ?", (key, now)
        ).fetchone()
        if row is None:
            return None
        self._touched[key] = now
        value: bytes = row[0]
        return value

    async def set(self, key: bytes, value: bytes, ttl: float, partition: Partition) -> None:
        if len(value) > partition.max_bytes or partition.max_entries < 1:
            return
        touched, self._touched = self._touched, {}
        async with self._lock:
            await asyncio.to_thread(self._write, key, value, ttl, partition, touched)

    def _write(
        self,
        key: bytes,
        value: bytes,
        ttl: float,
        partition: Partition,
        touched: dict[bytes, float],
    ) -> None:
        db = self._writer
        assert db is not None
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            if touched:
                db.executemany(
                    "UPDATE entries SET used = ? WHERE key = ?",
                    [(used, k) for k, used in touched.items()],
                )
            db.execute("DELETE FROM entries WHERE expires <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                (key, partition.name, now + ttl, now, len(value), value),
            )
            self._evict(db, partition)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _evict(db: sqlite3.Connection, partition: Partition) -> None:
        count, size = db.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM entries WHERE partition = ?",
            (partition.name,),
        ).fetchone()
        if count <= partition.max_entries and size <= partition.max_bytes:
            return
        rows = db.execute(
            "SELECT key, size FROM entries WHERE partition = ? ORDER BY used",
            (partition.name,),
        )
        doomed = []
        for key, entry_size in rows:
            if count <= partition.max_entries and size <= partition.max_bytes:
                break
            doomed.append((key,))
            count -= 1
            size -= entry_size
        db.executemany("DELETE FROM entries WHERE key = ?", doomed)

    async def _flush_touches(self) -> None:
        while True:
            await asyncio.sleep(TOUCH_INTERVAL)
            if self._touched:
                touched, self._touched = self._touched, {}
                try:
                    async with self._lock:
                        await asyncio.to_thread(self._write_touches, touched)
                except Exception:
                    log.exception("recording cache hits failed")

    def _write_touches(self, touched: dict[bytes, float]) -> None:
        assert self._writer is not None
        self._writer.executemany(
            "UPDATE entries SET used = ? WHERE key = ?", [(t, k) for k, t in touched.items()]
        )

    async def aclose(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        if self._writer is not None:
            if self._touched:
                async with self._lock:
                    await asyncio.to_thread(self._write_touches, self._touched)
            self._writer.close()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
