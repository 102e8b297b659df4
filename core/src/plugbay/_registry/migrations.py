"""Core's schema migrations, applied in order; ``PRAGMA user_version`` records the last one.

Owners with tables of their own (plugins, the keys table: :mod:`plugbay._registry.keys`) keep
their histories apart, numbered in ``schema_versions`` (see :meth:`Store.migrate_plugin`).

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

MIGRATIONS += [
    # 2: virtual keys. Only a keyed hash of each key is stored; `changed_at` lets every worker
    # pick up edits (and spend) incrementally.
    """
    CREATE TABLE keys (
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
    CREATE INDEX keys_changed_at ON keys (changed_at);
    """,
    # 3: usage records, and per-model price overrides made through the admin API.
    """
    CREATE TABLE usage (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        request_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        key_id TEXT,
        model TEXT,
        provider TEXT,
        upstream_model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cached_tokens INTEGER,
        usage_estimated INTEGER NOT NULL DEFAULT 0,
        latency_ms REAL NOT NULL,
        ttft_ms REAL,
        status INTEGER NOT NULL,
        error_code TEXT,
        stream INTEGER NOT NULL,
        cache_status TEXT,
        cost_usd REAL
    );
    CREATE INDEX usage_ts ON usage (ts);
    CREATE INDEX usage_key_ts ON usage (key_id, ts);
    CREATE TABLE prices (
        model TEXT PRIMARY KEY,
        input REAL,
        output REAL,
        cached_input REAL,
        updated_at REAL NOT NULL
    );
    INSERT OR IGNORE INTO meta (key, value) VALUES ('registry_version', '0');
    """,
]


def _bump_on_change(table: str) -> str:
    return "\n".join(
        f"""
    CREATE TRIGGER {table}_{verb.lower()} AFTER {verb} ON {table} BEGIN
        UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'registry_version';
    END;"""
        for verb in ("INSERT", "UPDATE", "DELETE")
    )


MIGRATIONS += [
    # 4: any write to providers, models or prices (the admin API, the config import, or a
    # person with sqlite3) moves registry_version, which every worker watches.
    "\n".join(_bump_on_change(table) for table in ("providers", "models", "prices")),
]

MIGRATIONS += [
    # 5: owners' own histories (a plugin's tables, the keys table's): the last step applied.
    """
    CREATE TABLE schema_versions (
        owner TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );
    """,
]

MIGRATIONS += [
    # 6: the deployment that served each request, and the upstream attempts it took.
    """
    ALTER TABLE usage ADD COLUMN deployment TEXT;
    ALTER TABLE usage ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    """,
]
