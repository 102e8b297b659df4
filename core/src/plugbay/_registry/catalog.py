"""Writes to providers, models and prices: the config import and the admin API's changes.

Each function runs inside one write transaction (:meth:`plugbay._registry.Store.write`) and may
be run again after ``SQLITE_BUSY``, so none acts outside the database.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from plugbay._pricing import Price
    from plugbay._settings import ModelSettings, ProviderSettings

__all__ = [
    "delete_model",
    "delete_provider",
    "import_config",
    "insert_model",
    "insert_provider",
    "set_price",
    "update_model",
    "update_provider",
]

log = logging.getLogger("plugbay.registry")

_encode = msgspec.json.Encoder().encode


def provider_json(provider: ProviderSettings) -> bytes:
    """The settings column: everything but the api key."""
    return _encode(msgspec.structs.replace(provider, api_key=None))


# --- the config file ---------------------------------------------------------------------------


def import_config(
    db: sqlite3.Connection,
    providers: list[ProviderSettings],
    models: list[ModelSettings],
    now: float,
) -> None:
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
            (p.name, p.type, provider_json(p), now, now),
        )
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
    _delete_absent(db, "models", [m.name for m in models])
    _delete_absent(db, "providers", [p.name for p in providers])


def _delete_absent(db: sqlite3.Connection, table: str, keep: list[str]) -> None:
    marks = ", ".join("?" for _ in keep)
    where = f"source = 'config' AND name NOT IN ({marks})" if keep else "source = 'config'"
    cursor = db.execute(f"DELETE FROM {table} WHERE {where}", keep)
    if cursor.rowcount:
        log.info("removed %d %s no longer in the config file", cursor.rowcount, table)


# --- providers ---------------------------------------------------------------------------------


def insert_provider(
    db: sqlite3.Connection, provider: ProviderSettings, secret: bytes | None, now: float
) -> bool:
    """Add a run-time provider; False if the name is taken."""
    cursor = db.execute(
        """INSERT INTO providers (name, type, settings, secret, source, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'api', ?, ?) ON CONFLICT (name) DO NOTHING""",
        (provider.name, provider.type, provider_json(provider), secret, now, now),
    )
    return cursor.rowcount > 0


def update_provider(
    db: sqlite3.Connection,
    provider: ProviderSettings,
    now: float,
    *,
    secret: bytes | None = None,
    replace_secret: bool = False,
) -> bool:
    """Rewrite a provider's settings (and its secret, with ``replace_secret``); False if absent."""
    sql = "UPDATE providers SET type = ?, settings = ?, updated_at = ?"
    params: list[object] = [provider.type, provider_json(provider), now]
    if replace_secret:
        sql += ", secret = ?"
        params.append(secret)
    cursor = db.execute(sql + " WHERE name = ?", (*params, provider.name))
    return cursor.rowcount > 0


def delete_provider(db: sqlite3.Connection, name: str) -> list[str]:
    """Delete a provider no model uses; else delete nothing and return the models using it."""
    users = [
        row[0]
        for row in db.execute(
            "SELECT name FROM models WHERE provider = ? ORDER BY name", (name,)
        ).fetchall()
    ]
    if not users:
        db.execute("DELETE FROM providers WHERE name = ?", (name,))
    return users


# --- models and prices -------------------------------------------------------------------------


def insert_model(db: sqlite3.Connection, model: ModelSettings, now: float) -> bool:
    """Add a run-time model; False if the name is taken."""
    cursor = db.execute(
        """INSERT INTO models (name, provider, upstream_model, settings, source, created_at,
                               updated_at)
           VALUES (?, ?, ?, ?, 'api', ?, ?) ON CONFLICT (name) DO NOTHING""",
        (model.name, model.provider, model.upstream, _encode(model), now, now),
    )
    return cursor.rowcount > 0


def update_model(db: sqlite3.Connection, model: ModelSettings, now: float) -> None:
    """Rewrite a model; its price override goes (the new settings say what it costs)."""
    db.execute(
        """UPDATE models SET provider = ?, upstream_model = ?, settings = ?, updated_at = ?
           WHERE name = ?""",
        (model.provider, model.upstream, _encode(model), now, model.name),
    )
    db.execute("DELETE FROM prices WHERE model = ?", (model.name,))


def delete_model(db: sqlite3.Connection, name: str) -> None:
    db.execute("DELETE FROM models WHERE name = ?", (name,))
    db.execute("DELETE FROM prices WHERE model = ?", (name,))


def set_price(db: sqlite3.Connection, model: str, price: Price | None, now: float) -> None:
    """Override a model's price; ``None`` removes the override."""
    if price is None:
        db.execute("DELETE FROM prices WHERE model = ?", (model,))
        return
    db.execute(
        """INSERT OR REPLACE INTO prices (model, input, output, cached_input, updated_at)
           VALUES (?, ?, ?, ?, ?)""",
        (model, price.input, price.output, price.cached_input, now),
    )
