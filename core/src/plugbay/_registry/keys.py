"""Virtual key rows: written through :meth:`plugbay._registry.Store.write`, read by the admin API.

Only a keyed hash of each key is stored. Every write moves ``changed_at``, which each worker's
key authenticator reads to pick up edits, revocations and spend incrementally.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugbay._registry.store import Store

__all__ = ["COLUMNS", "get", "insert", "page", "revoke", "update"]

COLUMNS = (
    "id, name, hint, models, scopes, rpm, tpm, max_parallel, max_budget, spend, expires_at, "
    "enabled, revoked_at, metadata, created_at, updated_at"
)
"""What the admin API shows of a key (never its hash)."""
_SELECT_ONE = f"SELECT {COLUMNS} FROM keys WHERE id = ?"
_INSERTED = (
    *("id", "name", "hint", "models", "scopes", "rpm", "tpm", "max_parallel", "max_budget"),
    *("expires_at", "enabled", "metadata", "hash"),
)


def insert(db: sqlite3.Connection, values: dict[str, Any], now: float) -> sqlite3.Row:
    """Add a key (``values`` holds every column but the times and spend); return its row."""
    columns = ", ".join(_INSERTED)
    marks = ", ".join("?" for _ in _INSERTED)
    db.execute(
        f"""INSERT INTO keys ({columns}, spend, revoked_at, created_at, updated_at, changed_at)
            VALUES ({marks}, 0, NULL, ?, ?, ?)""",
        (*(values[column] for column in _INSERTED), now, now, now),
    )
    row: sqlite3.Row = db.execute(_SELECT_ONE, (values["id"],)).fetchone()
    return row


def update(
    db: sqlite3.Connection, key_id: str, values: dict[str, Any], now: float
) -> sqlite3.Row | None:
    """Set ``values`` (column: value) on a key; its row, or None if there is no such key."""
    sets = {**values, "updated_at": now, "changed_at": now}
    assignments = ", ".join(f"{column} = ?" for column in sets)
    db.execute(f"UPDATE keys SET {assignments} WHERE id = ?", (*sets.values(), key_id))
    row: sqlite3.Row | None = db.execute(_SELECT_ONE, (key_id,)).fetchone()
    return row


def revoke(db: sqlite3.Connection, key_id: str, now: float) -> sqlite3.Row | None:
    """Revoke for good (the first revocation's time stays); the row, or None if unknown."""
    db.execute(
        """UPDATE keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = ?, changed_at = ?
           WHERE id = ?""",
        (now, now, now, key_id),
    )
    row: sqlite3.Row | None = db.execute(_SELECT_ONE, (key_id,)).fetchone()
    return row


async def get(store: Store, key_id: str) -> Any | None:
    async with store.db.execute(_SELECT_ONE, (key_id,)) as cursor:
        return await cursor.fetchone()


async def page(store: Store, limit: int, after: str | None) -> tuple[int, list[Any]]:
    """The number of keys, and up to ``limit + 1`` rows after the id ``after``."""
    db = store.db
    async with db.execute("SELECT COUNT(*) FROM keys") as cursor:
        total = int((await cursor.fetchone() or (0,))[0])
    async with db.execute(
        f"SELECT {COLUMNS} FROM keys WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit + 1)
    ) as cursor:
        rows = list(await cursor.fetchall())
    return total, rows
