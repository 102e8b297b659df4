"""Schema migrations, applied in order; ``PRAGMA user_version`` records the last one.

Append only: a released migration is never edited.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: providers, models, and a key/value table for the gateway's own state.
    """
    CREATE TABLE providers (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        settings TEXT NOT NULL,          -- JSON; never holds the api key
        secret BLOB,                     -- the api key, encrypted (entries made at run time)
        source TEXT NOT NULL CHECK (source IN ('config', 'api')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE models (
        name TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        upstream_model TEXT NOT NULL,
        settings TEXT NOT NULL,          -- JSON
        source TEXT NOT NULL CHECK (source IN ('config', 'api')),
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX models_provider ON models (provider);
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]
