"""The SQLite store: opened once per process, read into a :class:`Snapshot` held in memory.

The request path never queries the database; it reads the snapshot. :meth:`Store.changed`
is polled in the background (``PRAGMA data_version`` changes when another connection, in
this or another process, commits), and the gateway reloads the snapshot when it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aiosqlite
import msgspec

from plugbay.pricing import Price
from plugbay.registry.migrations import MIGRATIONS
from plugbay.settings import ModelSettings, ProviderSettings

__all__ = ["ModelRecord", "ProviderRecord", "Snapshot", "Store"]

log = logging.getLogger("plugbay.registry")

_encode = msgspec.json.Encoder().encode


class ProviderRecord(msgspec.Struct, frozen=True):
    name: str
    type: str
    settings: ProviderSettings
    secret: bytes | None
    source: str
    created_at: float
    updated_at: float


class ModelRecord(msgspec.Struct, frozen=True):
    name: str
    provider: str
    upstream_model: str
    settings: ModelSettings
    source: str
    created_at: float
    updated_at: float


class Snapshot(msgspec.Struct, frozen=True):
    providers: dict[str, ProviderRecord]
    models: dict[str, ModelRecord]
    prices: dict[str, Price] = {}
    """Price overrides made through the admin API, by public model name."""
    version: int = 0
    """``meta.registry_version`` when this snapshot was read."""


def _provider_json(provider: ProviderSettings) -> bytes:
    return _encode(msgspec.structs.replace(provider, api_key=None))


class Store:
    """Owns one aiosqlite connection; WAL mode so readers never block the writer."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: aiosqlite.Connection | None = None
        self._data_version: int | None = None
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error): one writer at a time."""
        db = self.db
        async with self._lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    @property
    def db(self) -> aiosqlite.Connection:
        assert self._db is not None, "Store.open() was not awaited"
        return self._db

    async def open(self) -> Store:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        self._db = db
        try:
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")
            await db.execute("PRAGMA foreign_keys = ON")
            await self.migrate()
        except BaseException:
            await self.close()  # a failed open (a newer schema...) leaves nothing open
            raise
        return self

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def migrate(self) -> int:
        """Apply pending migrations, one transaction each; return the schema version."""
        db = self.db
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = row[0] if row else 0
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path}: schema version {version} is newer than this plugbay "
                f"({len(MIGRATIONS)}); upgrade plugbay"
            )
        while version < len(MIGRATIONS):
            async with self.transaction():
                async with db.execute("PRAGMA user_version") as cursor:
                    row = await cursor.fetchone()
                version = row[0] if row else 0
                if version < len(MIGRATIONS):  # another process may have just done it
                    await _execute_script(db, MIGRATIONS[version])
                    version += 1
                    await db.execute(f"PRAGMA user_version = {version}")
            log.debug("registry %s at schema version %d", self.path, version)
        return version

    # --- config import -------------------------------------------------------------------------

    async def import_config(
        self, providers: Iterable[ProviderSettings], models: Iterable[ModelSettings]
    ) -> None:
        """Make the config's entries exist as written; drop entries only the config made.

        Entries created at run time (``source = 'api'``) are left alone unless the config
        now declares the same name, in which case the config takes them over.
        """
        now = time.time()
        providers, models = list(providers), list(models)
        async with self.transaction() as db:
            for p in providers:
                await db.execute(
                    """INSERT INTO providers (name, type, settings, secret, source, created_at,
                                              updated_at)
                       VALUES (?, ?, ?, NULL, 'config', ?, ?)
                       ON CONFLICT (name) DO UPDATE SET
                         type = excluded.type, settings = excluded.settings, secret = NULL,
                         source = 'config', updated_at = excluded.updated_at
                       WHERE providers.settings != excluded.settings
                          OR providers.type != excluded.type OR providers.source != 'config'""",
                    (p.name, p.type, _provider_json(p), now, now),
                )
            for m in models:
                await db.execute(
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
            await _delete_absent(db, "models", [m.name for m in models])
            await _delete_absent(db, "providers", [p.name for p in providers])

    # --- reading -------------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        db = self.db
        providers: dict[str, ProviderRecord] = {}
        async with db.execute("SELECT * FROM providers") as cursor:
            async for row in cursor:
                settings = msgspec.json.decode(row["settings"], type=ProviderSettings)
                providers[row["name"]] = ProviderRecord(
                    row["name"],
                    row["type"],
                    settings,
                    row["secret"],
                    row["source"],
                    row["created_at"],
                    row["updated_at"],
                )
        models: dict[str, ModelRecord] = {}
        async with db.execute("SELECT * FROM models") as cursor:
            async for row in cursor:
                model = msgspec.json.decode(row["settings"], type=ModelSettings)
                models[row["name"]] = ModelRecord(
                    row["name"],
                    row["provider"],
                    row["upstream_model"],
                    model,
                    row["source"],
                    row["created_at"],
                    row["updated_at"],
                )
        prices: dict[str, Price] = {}
        async with db.execute("SELECT model, input, output, cached_input FROM prices") as cursor:
            async for row in cursor:
                prices[row[0]] = Price(input=row[1], output=row[2], cached_input=row[3])
        version = await self.registry_version()
        self._data_version = await self._read_data_version()
        return Snapshot(providers, models, prices, version)

    async def registry_version(self) -> int:
        """A counter every write to providers, models or prices increments (a trigger)."""
        value = await self.get_meta("registry_version")
        return int(value) if value else 0

    async def _read_data_version(self) -> int:
        async with self.db.execute("PRAGMA data_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def changed(self) -> bool:
        """Whether another connection (any process) committed since the last call."""
        version = await self._read_data_version()
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    # --- meta ----------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str, *, only_if_absent: bool = False) -> bool:
        """Store ``value``; with ``only_if_absent``, return False if the key already existed."""
        verb = "INSERT OR IGNORE" if only_if_absent else "INSERT OR REPLACE"
        cursor = await self.db.execute(f"{verb} INTO meta (key, value) VALUES (?, ?)", (key, value))
        return cursor.rowcount > 0


async def _delete_absent(db: aiosqlite.Connection, table: str, keep: list[str]) -> None:
    marks = ", ".join("?" for _ in keep)
    where = f"source = 'config' AND name NOT IN ({marks})" if keep else "source = 'config'"
    cursor = await db.execute(f"DELETE FROM {table} WHERE {where}", keep)
    if cursor.rowcount:
        log.info("removed %d %s no longer in the config file", cursor.rowcount, table)


async def _execute_script(db: aiosqlite.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run statement by statement instead.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            await db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")
