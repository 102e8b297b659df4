"""The one writer of each process: a thread with its own connection, and the retry policy.

Every write to the registry (the admin API, usage batches and key spend, the config import,
migrations, the master key) is a plain function of a :class:`sqlite3.Connection` that this
thread runs between ``BEGIN IMMEDIATE`` and ``COMMIT`` in one go, so the write lock is held
for the statements only, never across a turn of a busy event loop. ``IMMEDIATE`` takes the
lock first, so a transaction never has to upgrade a read to a write (an ``SQLITE_BUSY`` that
SQLite's busy handler does not wait out).

When another process holds the lock, SQLite waits up to :data:`BUSY_TIMEOUT_MS` (its busy
handler polls); then the whole transaction is tried again after a jittered pause, until
:data:`WRITE_TIMEOUT` has passed since the first attempt. Only then does the write fail, with
:class:`RegistryBusy`: a 503 in OpenAI's error shape, never a 500. Short attempts keep
SQLite's polling fine-grained, so a process waiting for the lock is not starved by one that
writes back to back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Concatenate, ParamSpec, TypeVar

from plugbay._errors import ServiceUnavailable

__all__ = ["BUSY_TIMEOUT_MS", "WRITE_TIMEOUT", "RegistryBusy", "Writer", "is_busy"]

log = logging.getLogger("plugbay.registry")

BUSY_TIMEOUT_MS = 250
"""How long one attempt waits inside SQLite for another connection's write lock."""
WRITE_TIMEOUT = 15.0
"""How long a write may wait for the lock in all, before it fails with :class:`RegistryBusy`."""
_BACKOFF_BASE = 0.005
_BACKOFF_CAP = 0.1

P = ParamSpec("P")
T = TypeVar("T")


class RegistryBusy(ServiceUnavailable):
    """503: another process held the registry's write lock for longer than the bound."""

    default_code = "registry_busy"


def is_busy(exc: BaseException) -> bool:
    """``SQLITE_BUSY`` or ``SQLITE_LOCKED`` (any extended code): worth trying again."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


class Writer:
    """Runs write functions one at a time on its own thread and connection."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, timeout: float = WRITE_TIMEOUT
    ) -> None:
        self.timeout = timeout
        self.busy = 0
        """How many attempts found the lock taken beyond ``BUSY_TIMEOUT_MS`` (since start)."""
        self._connect = connect
        self._db: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="plugbay-registry-writer")

    async def start(self) -> None:
        await self._submit(self._open)

    def _open(self) -> None:
        self._db = self._connect()

    async def close(self) -> None:
        try:
            await self._submit(self._close)
        finally:
            self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            db.close()

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``fn(connection, *args, **kwargs)`` in one write transaction; its result.

        ``fn`` may run more than once (after ``SQLITE_BUSY``, on a rolled-back transaction),
        so it must not act outside the database. What it raises rolls back and propagates.
        """
        return await self._submit(partial(self._transaction, lambda db: fn(db, *args, **kwargs)))

    async def run_outside_transaction(self, fn: Callable[[sqlite3.Connection], T], /) -> T:
        """``fn(connection)`` in autocommit mode (pragmas), with the same retry policy."""
        return await self._submit(partial(self._retrying, fn))

    async def _submit(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def attempt(db: sqlite3.Connection) -> T:
            _rollback(db)  # never build on what a failed attempt left open
            db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(db)
                db.execute("COMMIT")
            except BaseException:
                _rollback(db)
                raise
            return result

        return self._retrying(attempt)

    def _retrying(self, attempt: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        if db is None:
            raise RuntimeError("the registry is closed")
        started = time.monotonic()
        tries = 0
        while True:
            tries += 1
            try:
                result = attempt(db)
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                self.busy += 1
                waited = time.monotonic() - started
                if waited >= self.timeout:
                    log.warning(
                        "registry write gave up after %.1f s and %d attempts: %s",
                        waited,
                        tries,
                        exc,
                    )
                    raise RegistryBusy(
                        f"The registry database is locked by another writer (waited "
                        f"{waited:.1f} s); try again.",
                        headers={"retry-after": "1"},
                    ) from None
            else:
                if tries > 1:
                    log.debug(
                        "registry write waited %.2f s for the lock (%d attempts)",
                        time.monotonic() - started,
                        tries,
                    )
                return result
            pause = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**tries))
            time.sleep(min(pause, max(0.0, self.timeout - (time.monotonic() - started))))


def _rollback(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
            db.execute("ROLLBACK")
