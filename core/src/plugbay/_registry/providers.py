"""Provider rows: the config file's (``source = 'config'``) and the admin API's (``'api'``).

Write functions run inside one write transaction (:meth:`plugbay._registry.Store.write`) and
may run again after ``SQLITE_BUSY``, so none acts outside the database.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING

import msgspec

from plugbay._registry.records import ProviderRecord
from plugbay._settings import ProviderSettings

if TYPE_CHECKING:
    import aiosqlite

    from plugbay._registry.store import Store

__all__ = ["Providers", "delete_absent", "import_config", "read_all"]

log = logging.getLogger("plugbay.registry")

_encode = msgspec.json.Encoder().encode


def settings_json(provider: ProviderSettings) -> bytes:
    """The settings column: everything but the api key."""
    return _encode(msgspec.structs.replace(provider, api_key=None))


def import_config(db: sqlite3.Connection, providers: list[ProviderSettings], now: float) -> None:
    for p in providers:
        db.execute(
            """INSERT INTO providers (name, type, settings, secret, source, created_at,
                                      updated_at)
               VALUES (?, ?, ?, NULL, 'config', ?, ?)
               ON CONFLICT (name) DO UPDATE SET
                 type = excluded.type, settings = excluded.settings, secret = NULL,
                 source = 'config', updated_at = excluded.updated_at
               WHERE providers.settings != excluded.settings
                  OR providers.type != excluded.type OR providers.source != 'config'""",
            (p.name, p.type, settings_json(p), now, now),
        )


def delete_absent(db: sqlite3.Connection, table: str, keep: list[str]) -> None:
    """Delete the config's entries of ``table`` (providers or models) not named in ``keep``."""
    assert table in ("providers", "models")
    marks = ", ".join("?" for _ in keep)
    where = f"source = 'config' AND name NOT IN ({marks})" if keep else "source = 'config'"
    cursor = db.execute(f"DELETE FROM {table} WHERE {where}", keep)
    if cursor.rowcount:
        log.info("removed %d %s no longer in the config file", cursor.rowcount, table)


def _insert(
    db: sqlite3.Connection, provider: ProviderSettings, secret: bytes | None, now: float
) -> bool:
    cursor = db.execute(
        """INSERT INTO providers (name, type, settings, secret, source, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'api', ?, ?) ON CONFLICT (name) DO NOTHING""",
        (provider.name, provider.type, settings_json(provider), secret, now, now),
    )
    return cursor.rowcount > 0


def _update(
    db: sqlite3.Connection,
    provider: ProviderSettings,
    now: float,
    secret: bytes | None,
    replace_secret: bool,
) -> bool:
    sql = "UPDATE providers SET type = ?, settings = ?, updated_at = ?"
    params: list[object] = [provider.type, settings_json(provider), now]
    if replace_secret:
        sql += ", secret = ?"
        params.append(secret)
    cursor = db.execute(sql + " WHERE name = ?", (*params, provider.name))
    return cursor.rowcount > 0


def _delete(db: sqlite3.Connection, name: str) -> list[str]:
    users = [
        row[0]
        for row in db.execute(
            "SELECT name FROM models WHERE provider = ? ORDER BY name", (name,)
        ).fetchall()
    ]
    if not users:
        db.execute("DELETE FROM providers WHERE name = ?", (name,))
    return users


async def read_all(db: aiosqlite.Connection) -> dict[str, ProviderRecord]:
    providers: dict[str, ProviderRecord] = {}
    async with db.execute(
        "SELECT name, type, settings, secret, source, created_at, updated_at FROM providers"
    ) as cursor:
        async for row in cursor:
            settings = msgspec.json.decode(row[2], type=ProviderSettings)
            providers[row[0]] = ProviderRecord(row[0], row[1], settings, *row[3:])
    return providers


class Providers:
    """:class:`plugbay._registry.api.ProviderStore` on SQLite."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, provider: ProviderSettings, secret: bytes | None) -> bool:
        return await self._store.write(_insert, provider, secret, time.time())

    async def update(
        self,
        provider: ProviderSettings,
        *,
        secret: bytes | None = None,
        replace_secret: bool = False,
    ) -> bool:
        return await self._store.write(_update, provider, time.time(), secret, replace_secret)

    async def delete(self, name: str) -> list[str]:
        return await self._store.write(_delete, name)
