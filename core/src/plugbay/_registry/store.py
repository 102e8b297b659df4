"""The SQLite store: opened once per process, read into a :class:`Snapshot` held in memory.

The request path never queries the database; it reads the snapshot. :meth:`Store.changed`
is polled in the background (``PRAGMA data_version`` changes when another connection, in
this or another process, commits), and the gateway reloads the snapshot when it does.
Reads use an aiosqlite connection; every write goes through :meth:`Store.write`, to this
process's one writer (:mod:`plugbay._registry.writer`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import aiosqlite

from plugbay._registry import keys, models, providers
from plugbay._registry.keys import Keys
from plugbay._registry.migrations import MIGRATIONS
from plugbay._registry.models import Models
from plugbay._registry.providers import Providers
from plugbay._registry.records import Snapshot
from plugbay._registry.usage import Usage
from plugbay._registry.writer import BUSY_TIMEOUT_MS, WRITE_TIMEOUT, Writer

if TYPE_CHECKING:
    from plugbay._settings import ModelSettings, ProviderSettings

__all__ = ["Store"]

log = logging.getLogger("plugbay.registry")


class _NoStatements(logging.Filter):
    """aiosqlite logs every call at DEBUG with its SQL and parameter values (key hashes,
    encrypted secrets), four times a second while the watcher polls: keep INFO and above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO


_aiosqlite_log = logging.getLogger("aiosqlite")
if not any(isinstance(f, _NoStatements) for f in _aiosqlite_log.filters):
    _aiosqlite_log.addFilter(_NoStatements())

READ_BUSY_TIMEOUT_MS = 5000
"""Reads wait for a lock only while a crashed writer's WAL is recovered: rare, and brief."""

P = ParamSpec("P")
T = TypeVar("T")


class Store:
    """The registry of one process on SQLite (:class:`plugbay._registry.api.Registry`): an
    aiosqlite connection that reads, and one writer.

    WAL mode, so reads never wait for a writer; every write goes through :meth:`write`.
    """

    def __init__(self, path: str | Path, *, write_timeout: float = WRITE_TIMEOUT) -> None:
        self.path = str(path)
        self._write_timeout = write_timeout
        self._db: aiosqlite.Connection | None = None
        self._writer: Writer | None = None
        self._data_version: int | None = None
        self._memory = f"file:plugbay-{id(self):x}?mode=memory&cache=shared"
        self._providers = Providers(self)
        self._models = Models(self)
        self._keys = Keys(self)
        self._usage = Usage(self)

    @property
    def providers(self) -> Providers:
        return self._providers

    @property
    def models(self) -> Models:
        return self._models

    @property
    def keys(self) -> Keys:
        return self._keys

    @property
    def usage(self) -> Usage:
        return self._usage

    @property
    def write_timeout(self) -> float:
        """How long a write may wait for another process's lock before it fails (a 503)."""
        return self._write_timeout

    @write_timeout.setter
    def write_timeout(self, seconds: float) -> None:
        self._write_timeout = seconds
        if self._writer is not None:
            self._writer.timeout = seconds

    @property
    def db(self) -> aiosqlite.Connection:
        """The reading connection (never write through it: use :meth:`write`)."""
        assert self._db is not None, "Store.open() was not awaited"
        return self._db

    async def write(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``fn(connection, *args, **kwargs)`` in one write transaction; return its result.

        Waits for another process's write lock within :attr:`write_timeout`, then raises
        :class:`~plugbay._registry.RegistryBusy` (a 503). See :mod:`plugbay._registry.writer`.
        """
        return await self._writer_or_fail().run(fn, *args, **kwargs)

    async def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self.db.execute(sql, params) as cursor:
            return [tuple(row) async for row in cursor]

    def _writer_or_fail(self) -> Writer:
        assert self._writer is not None, "Store.open() was not awaited"
        return self._writer

    async def open(self) -> Store:
        try:
            self._writer = Writer(self._connect_writer, timeout=self._write_timeout)
            await self._writer.start()
            await self._writer.run_outside_transaction(_setup_writer)
            await self.migrate()
            database, uri = self._target()
            self._db = await aiosqlite.connect(database, uri=uri, isolation_level=None)
            self._db.row_factory = aiosqlite.Row
            await self._db.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}")
            if self.path == ":memory:":  # shared cache: readers take no table locks
                await self._db.execute("PRAGMA read_uncommitted = 1")
        except BaseException:
            await self.close()  # a failed open (a newer schema...) leaves nothing open
            raise
        return self

    def _target(self) -> tuple[str, bool]:
        """What ``sqlite3.connect`` opens: the file, or (``:memory:``) one shared database."""
        if self.path == ":memory:":
            return self._memory, True
        return self.path, False

    def _connect_writer(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            _create_private(Path(self.path))
        database, uri = self._target()
        db = sqlite3.connect(
            database,
            uri=uri,
            isolation_level=None,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
        db.row_factory = sqlite3.Row
        return db

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.close()

    async def migrate(self) -> int:
        """Apply pending migrations, one transaction each; return the schema version."""
        version = await self._writer_or_fail().run_outside_transaction(
            lambda db: _migrate_step(db, self.path, check_only=True)
        )
        while version < len(MIGRATIONS):
            version = await self.write(_migrate_step, self.path)
            log.debug("registry %s at schema version %d", self.path, version)
        await self._migrate_owner(keys.OWNER, keys.MIGRATIONS)
        return version

    async def migrate_plugin(self, owner: str, steps: Sequence[str]) -> int:
        """Bring ``owner``'s own tables to ``len(steps)`` (see :class:`~plugbay.Registry`)."""
        if owner == keys.OWNER or not owner or owner != owner.strip():
            raise ValueError(f"{owner!r} cannot own migrations (a plugin's name can)")
        return await self._migrate_owner(owner, steps)

    async def _migrate_owner(self, owner: str, steps: Sequence[str]) -> int:
        steps = list(steps)
        version = await self._writer_or_fail().run_outside_transaction(
            lambda db: _migrate_owner_step(db, self.path, owner, steps, check_only=True)
        )
        while version < len(steps):
            version = await self.write(_migrate_owner_step, self.path, owner, steps)
            log.debug("registry %s: %s at schema version %d", self.path, owner, version)
        return version

    async def schema_version(self, owner: str) -> int:
        async with self.db.execute(
            "SELECT version FROM schema_versions WHERE owner = ?", (owner,)
        ) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    # --- writing -------------------------------------------------------------------------------

    async def import_config(
        self, providers: Iterable[ProviderSettings], models: Iterable[ModelSettings]
    ) -> None:
        """Make the config's entries exist as written; drop entries only the config made.

        Entries created at run time (``source = 'api'``) are left alone unless the config
        now declares the same name, in which case the config takes them over.
        """
        await self.write(_import_config, list(providers), list(models), time.time())

    # --- reading -------------------------------------------------------------------------------

    async def snapshot(self) -> Snapshot:
        db = self.db
        found = (await providers.read_all(db), await models.read_all(db))
        prices = await models.read_prices(db)
        version = await self.registry_version()
        self._data_version = await self._read_data_version()
        return Snapshot(*found, prices, version)

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
        return await self.write(_set_meta, key, value, only_if_absent)


def _set_meta(db: sqlite3.Connection, key: str, value: str, only_if_absent: bool) -> bool:
    verb = "INSERT OR IGNORE" if only_if_absent else "INSERT OR REPLACE"
    return db.execute(f"{verb} INTO meta (key, value) VALUES (?, ?)", (key, value)).rowcount > 0


def _import_config(
    db: sqlite3.Connection,
    provider_list: list[ProviderSettings],
    model_list: list[ModelSettings],
    now: float,
) -> None:
    providers.import_config(db, provider_list, now)
    models.import_config(db, model_list, now)
    providers.delete_absent(db, "models", [m.name for m in model_list])
    providers.delete_absent(db, "providers", [p.name for p in provider_list])


def _setup_writer(db: sqlite3.Connection) -> None:
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")


def _migrate_step(db: sqlite3.Connection, path: str, *, check_only: bool = False) -> int:
    """Apply the next migration (if any); return the schema version now."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"{path}: schema version {version} is newer than this plugbay "
            f"({len(MIGRATIONS)}); upgrade plugbay"
        )
    if check_only or version == len(MIGRATIONS):  # another process may have just done it
        return version
    _execute_script(db, MIGRATIONS[version])
    db.execute(f"PRAGMA user_version = {version + 1}")
    return version + 1


def _migrate_owner_step(
    db: sqlite3.Connection, path: str, owner: str, steps: list[str], *, check_only: bool = False
) -> int:
    """Apply ``owner``'s next step (if any); return its schema version now."""
    row = db.execute("SELECT version FROM schema_versions WHERE owner = ?", (owner,)).fetchone()
    version = 0 if row is None else int(row[0])
    if version > len(steps):
        raise RuntimeError(
            f"{path}: the tables of {owner!r} are at schema version {version}, newer than "
            f"this {owner!r} knows ({len(steps)}); upgrade it"
        )
    if check_only or version == len(steps):  # another process may have just done it
        return version
    _execute_script(db, steps[version])
    db.execute(
        """INSERT INTO schema_versions (owner, version) VALUES (?, ?)
           ON CONFLICT (owner) DO UPDATE SET version = excluded.version""",
        (owner, version + 1),
    )
    return version + 1


def _create_private(path: Path) -> None:
    """Create the database file 0600 (SQLite gives ``-wal`` and ``-shm`` the same mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning(
                "%s is open to other users (mode %03o): it holds key hashes and encrypted "
                "credentials; `chmod 600` it",
                path,
                mode,
            )
    else:
        os.close(fd)


def _execute_script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run statement by statement instead.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")
