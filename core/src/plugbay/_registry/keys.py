"""Virtual key rows: written by the admin API, read by the keys plugin, charged by usage.

Only a keyed hash of each key is stored. Every write moves ``changed_at``, which each worker's
key authenticator reads to pick up edits, revocations and spend incrementally.

The table has its own migration history (owner ``keys``, :data:`MIGRATIONS`), apart from
core's: its first step adopts the table core's schema version 2 made, so a registry written
before per-owner histories keeps its keys as they are.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay._registry.records import KeyRecord

if TYPE_CHECKING:
    from plugbay._registry.store import Store

__all__ = ["MIGRATIONS", "OWNER", "Keys"]

OWNER = "keys"
MIGRATIONS: list[str] = [
    # 1: the table as core's migration 2 made it (kept there too: released migrations stay).
    """
    CREATE TABLE IF NOT EXISTS keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,              -- masked form for display: pb-...wxyz
        models TEXT,                     -- JSON list of names and prefix* patterns; NULL = all
        scopes TEXT NOT NULL,            -- JSON list
        rpm INTEGER,
        tpm INTEGER,
        max_parallel INTEGER,
        max_budget REAL,
        spend REAL NOT NULL DEFAULT 0,
        expires_at REAL,
        enabled INTEGER NOT NULL DEFAULT 1,
        revoked_at REAL,
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        changed_at REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS keys_changed_at ON keys (changed_at);
    """,
]
"""Append only: a released step is never edited."""

_COLUMNS = (
    *("id", "name", "hash", "hint", "models", "scopes", "rpm", "tpm", "max_parallel"),
    *("max_budget", "spend", "expires_at", "enabled", "revoked_at", "metadata"),
    *("created_at", "updated_at", "changed_at"),
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM keys"
_JSON = frozenset({"models", "scopes", "metadata"})
_UPDATABLE = frozenset(
    {"name", "models", "scopes", "rpm", "tpm", "max_parallel", "max_budget", "spend"}
    | {"expires_at", "enabled", "metadata"}
)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _column(field: str, value: Any) -> Any:
    """A field's value as the column holds it: JSON text for lists and maps, 0/1 for flags."""
    if field in _JSON:
        return None if value is None else _encode(value)
    if field == "enabled":
        return int(value)
    return value


def _record(row: Any) -> KeyRecord:
    models, scopes, metadata = row[4], row[5], row[14]
    return KeyRecord(
        id=row[0],
        name=row[1],
        hash=row[2],
        hint=row[3],
        models=None if models is None else _decode(models),
        scopes=_decode(scopes),
        rpm=row[6],
        tpm=row[7],
        max_parallel=row[8],
        max_budget=row[9],
        spend=row[10],
        expires_at=row[11],
        enabled=bool(row[12]),
        revoked_at=row[13],
        metadata=_decode(metadata),
        created_at=row[15],
        updated_at=row[16],
        changed_at=row[17],
    )


def _one(db: sqlite3.Connection, key_id: str) -> KeyRecord | None:
    row = db.execute(f"{_SELECT} WHERE id = ?", (key_id,)).fetchone()
    return None if row is None else _record(row)


def _insert(db: sqlite3.Connection, key: KeyRecord, now: float) -> KeyRecord:
    values = msgspec.structs.replace(
        key, spend=0.0, revoked_at=None, created_at=now, updated_at=now, changed_at=now
    )
    marks = ", ".join("?" for _ in _COLUMNS)
    db.execute(
        f"INSERT INTO keys ({', '.join(_COLUMNS)}) VALUES ({marks})",
        [_column(field, getattr(values, field)) for field in _COLUMNS],
    )
    return values


def _update(
    db: sqlite3.Connection, key_id: str, changes: Mapping[str, Any], now: float
) -> KeyRecord | None:
    sets = {field: _column(field, value) for field, value in changes.items()}
    sets.update(updated_at=now, changed_at=now)
    assignments = ", ".join(f"{column} = ?" for column in sets)
    db.execute(f"UPDATE keys SET {assignments} WHERE id = ?", (*sets.values(), key_id))
    return _one(db, key_id)


def _revoke(db: sqlite3.Connection, key_id: str, now: float) -> KeyRecord | None:
    db.execute(
        """UPDATE keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = ?, changed_at = ?
           WHERE id = ?""",
        (now, now, now, key_id),
    )
    return _one(db, key_id)


def charge(
    db: sqlite3.Connection, spend: Mapping[str, float], now: float, read_back: bool
) -> dict[str, float]:
    """Add ``spend`` (USD by key id) to the keys' spend; with ``read_back``, the new spends."""
    db.executemany(
        "UPDATE keys SET spend = spend + ?, changed_at = ? WHERE id = ?",
        [(amount, now, key_id) for key_id, amount in spend.items()],
    )
    spent: dict[str, float] = {}
    if read_back:
        ids = list(spend)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, spend FROM keys WHERE id IN ({marks})"
            spent.update((row[0], row[1]) for row in db.execute(sql, chunk))
    return spent


class Keys:
    """:class:`plugbay._registry.api.KeyStore` on SQLite."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, key: KeyRecord) -> KeyRecord:
        return await self._store.write(_insert, key, time.time())

    async def update(self, key_id: str, changes: Mapping[str, Any]) -> KeyRecord | None:
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise ValueError(f"a key's {unknown[0]!r} cannot be changed")
        if not changes:
            return await self.get(key_id)
        return await self._store.write(_update, key_id, dict(changes), time.time())

    async def revoke(self, key_id: str) -> KeyRecord | None:
        return await self._store.write(_revoke, key_id, time.time())

    async def get(self, key_id: str) -> KeyRecord | None:
        async with self._store.db.execute(f"{_SELECT} WHERE id = ?", (key_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else _record(row)

    async def page(self, limit: int, after: str | None) -> tuple[int, list[KeyRecord]]:
        db = self._store.db
        async with db.execute("SELECT COUNT(*) FROM keys") as cursor:
            total = int((await cursor.fetchone() or (0,))[0])
        async with db.execute(
            f"{_SELECT} WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit + 1)
        ) as cursor:
            rows = [_record(row) async for row in cursor]
        return total, rows

    async def changed_since(self, since: float | None) -> list[KeyRecord]:
        params: tuple[float, ...]
        sql, params = _SELECT, ()
        if since is not None:
            sql, params = f"{_SELECT} WHERE changed_at >= ?", (since,)
        async with self._store.db.execute(sql, params) as cursor:
            rows = await cursor.fetchall()  # one hop to aiosqlite's thread, not one per 64 rows
        return [_record(row) for row in rows]
