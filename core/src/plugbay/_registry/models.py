"""Model rows and price overrides.

Write functions run inside one write transaction (:meth:`plugbay._registry.Store.write`) and
may run again after ``SQLITE_BUSY``, so none acts outside the database.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

import msgspec

from plugbay._pricing import Price
from plugbay._registry.records import ModelRecord
from plugbay._settings import ModelSettings

if TYPE_CHECKING:
    import aiosqlite

    from plugbay._registry.store import Store

__all__ = ["Models", "import_config", "read_all", "read_prices"]

_encode = msgspec.json.Encoder().encode


def import_config(db: sqlite3.Connection, models: list[ModelSettings], now: float) -> None:
    for m in models:
        db.execute(
            """INSERT INTO models (name, provider, upstream_model, settings, source,
                                   created_at, updated_at)
               VALUES (?, ?, ?, ?, 'config', ?, ?)
               ON CONFLICT (name) DO UPDATE SET
                 provider = excluded.provider, upstream_model = excluded.upstream_model,
                 settings = excluded.settings, source = 'config',
                 updated_at = excluded.updated_at
               WHERE models.settings != excluded.settings OR models.source != 'config'""",
            (m.name, m.provider, m.upstream, _encode(m), now, now),
        )


def _insert(db: sqlite3.Connection, model: ModelSettings, now: float) -> bool:
    cursor = db.execute(
        """INSERT INTO models (name, provider, upstream_model, settings, source, created_at,
                               updated_at)
           VALUES (?, ?, ?, ?, 'api', ?, ?) ON CONFLICT (name) DO NOTHING""",
        (model.name, model.provider, model.upstream, _encode(model), now, now),
    )
    return cursor.rowcount > 0


def _update(db: sqlite3.Connection, model: ModelSettings, now: float) -> None:
    db.execute(
        """UPDATE models SET provider = ?, upstream_model = ?, settings = ?, updated_at = ?
           WHERE name = ?""",
        (model.provider, model.upstream, _encode(model), now, model.name),
    )
    db.execute("DELETE FROM prices WHERE model = ?", (model.name,))


def _delete(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM models WHERE name = ?", (name,))
    db.execute("DELETE FROM prices WHERE model = ?", (name,))


def _set_price(db: sqlite3.Connection, model: str, price: Price | None, now: float) -> None:
    if price is None:
        db.execute("DELETE FROM prices WHERE model = ?", (model,))
        return
    db.execute(
        """INSERT OR REPLACE INTO prices (model, input, output, cached_input, updated_at)
           VALUES (?, ?, ?, ?, ?)""",
        (model, price.input, price.output, price.cached_input, now),
    )


async def read_all(db: aiosqlite.Connection) -> dict[str, ModelRecord]:
    models: dict[str, ModelRecord] = {}
    async with db.execute(
        "SELECT name, provider, upstream_model, settings, source, created_at, updated_at "
        "FROM models"
    ) as cursor:
        async for row in cursor:
            settings = msgspec.json.decode(row[3], type=ModelSettings)
            models[row[0]] = ModelRecord(row[0], row[1], row[2], settings, *row[4:])
    return models


async def read_prices(db: aiosqlite.Connection) -> dict[str, Price]:
    prices: dict[str, Price] = {}
    async with db.execute("SELECT model, input, output, cached_input FROM prices") as cursor:
        async for row in cursor:
            prices[row[0]] = Price(input=row[1], output=row[2], cached_input=row[3])
    return prices


class Models:
    """:class:`plugbay._registry.api.ModelStore` on SQLite."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def add(self, model: ModelSettings) -> bool:
        return await self._store.write(_insert, model, time.time())

    async def update(self, model: ModelSettings) -> None:
        await self._store.write(_update, model, time.time())

    async def delete(self, name: str) -> None:
        await self._store.write(_delete, name)

    async def set_price(self, model: str, price: Price | None) -> None:
        await self._store.write(_set_price, model, price, time.time())
