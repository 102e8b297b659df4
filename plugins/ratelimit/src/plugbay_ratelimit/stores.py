"""Where limit state lives: in this process, in a file shared by workers, or a plugin's.

A store implements :class:`LimitStore`. The built-in ones run :class:`~.window.Table`:

- ``memory``: an anonymous mmap; exact for one process.
- ``file`` (the default): a memory-mapped file under an exclusive ``fcntl`` lock held only
  for the few microseconds of a decision (no ``await`` inside it), so the workers of one
  machine share exact limits without any database query. The kernel drops the lock of a
  process that dies, so a crashed worker never wedges the others.

Slots and budget reservations are leases (:mod:`.leases`) of the process holding them. In the
file, each worker claims a *holder* entry and keeps a kernel lock on one byte named after it
(an open-file-description lock on Linux, a POSIX record lock elsewhere) for as long as it
runs. The kernel drops that lock when the process dies however it dies (``kill -9``
included), so a lock that can be taken means a dead holder: every worker looks once a second
(and at once when a slot or the budget refuses a request), and gives back the dead holder's
leases. A worker starting claims a free holder entry the same way, so a restart starts clean.

Other backends come from plugins through the ``plugbay_ratelimit.backends`` entry-point
group (``plugbay-redis`` adds ``redis``): ``name = "module:factory"`` where
``factory(settings, config) -> LimitStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib.metadata
import logging
import mmap
import os
import struct
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from plugbay import ConfigError
from plugbay_ratelimit.window import HEADER, MAGIC, RECORD, Decision, Hold, Scope, Table

if TYPE_CHECKING:
    from plugbay import Settings
    from plugbay_ratelimit.config import RateLimitConfig

__all__ = ["BACKENDS_GROUP", "FileStore", "LimitStore", "MemoryStore", "open_store"]

log = logging.getLogger("plugbay.ratelimit")

BACKENDS_GROUP = "plugbay_ratelimit.backends"
HOLDERS = 128
"""Holder entries in a state file: processes using it at once (workers, and restarts of them
while a dead one is not yet reclaimed)."""
SWEEP_INTERVAL = 1.0
"""Seconds between looks for dead holders."""
_HOLDER_LOCKS = 1 << 40
"""Byte offset of holder 0's lock: far beyond the data, so it never meets the decision lock
(byte 0)."""


class LimitStore(Protocol):
    """Rate-limit state: one atomic check-and-charge, and the settling after a request.

    Leases (slots, budget reservations) must be given back when their holder dies: within
    seconds, and at the latest when the gateway restarts.

    A store whose decisions never wait (the in-process ones) may also have ``charge_now`` and
    ``settle_now``: ``charge`` and ``settle`` as plain functions, which the limiter then calls
    directly (no coroutine per request).
    """

    async def start(self) -> None: ...

    async def charge(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        """Admit (charging one request and ``tokens`` to every scope, and taking a lease for
        ``hold`` on ``scopes[0]``) or refuse, atomically."""
        ...

    async def settle(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        """Correct the token charge made in ``bucket`` by ``delta``; end ``lease``, counting
        ``cost`` (USD nanos) as the key's unrecorded spend. Returns a receipt for that spend
        (``None`` when there is none)."""
        ...

    async def recorded(
        self,
        receipts: Sequence[Any],
        kept: Sequence[Any],
        baselines: Sequence[tuple[Scope, int]],
    ) -> None:
        """The registry recorded the requests of ``receipts`` (their spend stops counting as
        unrecorded) and of ``kept`` (keys the registry does not hold: their spend keeps
        counting for as long as this process holds it); ``baselines`` are keys' spends
        (nanos) as the registry holds them now."""
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """State in this process only: exact for one worker."""

    def __init__(self, slots: int, leases: int = 4096) -> None:
        self._map = mmap.mmap(-1, Table.size(slots, 1, leases))  # pages allocated when touched
        self.table = Table(memoryview(self._map), slots, 1, leases)
        self.table.init_header()
        self.table.ledger.claim(0, os.getpid(), int(time.time() * 1000))

    async def start(self) -> None:
        pass

    async def charge(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        return self.table.charge(scopes, tokens, time.time(), hold)

    async def settle(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        return self.table.settle(scopes, bucket, delta, time.time(), lease, cost)

    def charge_now(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        """:meth:`charge`, called without a coroutine (it never waits)."""
        return self.table.charge(scopes, tokens, time.time(), hold)

    def settle_now(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        """:meth:`settle`, called without a coroutine (it never waits)."""
        return self.table.settle(scopes, bucket, delta, time.time(), lease, cost)

    async def recorded(
        self,
        receipts: Sequence[Any],
        kept: Sequence[Any],
        baselines: Sequence[tuple[Scope, int]],
    ) -> None:
        self.table.recorded(receipts, baselines, time.time())

    async def aclose(self) -> None:
        self.table.q.release()
        self._map.close()


# --- holder locks ------------------------------------------------------------------------------

_OFD = sys.platform == "linux" and hasattr(fcntl, "F_OFD_SETLK") and struct.calcsize("P") == 8
"""Open-file-description locks: owned by the open file, so two stores in one process (tests)
exclude each other too. Elsewhere POSIX record locks, owned by the process."""


def _flock(kind: int, start: int) -> bytes:
    # struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len,
    # pid_t l_pid (0 for OFD locks), padded to 32 bytes
    return struct.pack("hh4xqqi4x", kind, os.SEEK_SET, start, 1, 0)


def _try_lock(fd: int, holder: int) -> bool:
    """Take holder ``holder``'s lock if nobody (else) has it."""
    offset = _HOLDER_LOCKS + holder
    try:
        if _OFD:
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_WRLCK, offset))
        else:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
    except (BlockingIOError, PermissionError):
        return False
    return True


def _unlock(fd: int, holder: int) -> None:
    offset = _HOLDER_LOCKS + holder
    if _OFD:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _flock(fcntl.F_UNLCK, offset))
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)


class FileStore:
    """State in a memory-mapped file shared by every process that opens it."""

    def __init__(
        self, path: str | Path, slots: int, leases: int = 4096, holders: int = HOLDERS
    ) -> None:
        self.path = Path(path)
        self.slots = slots
        self.leases = leases
        self.holders = holders
        self._fd = -1
        self._map: mmap.mmap | None = None
        self.table: Table | None = None
        self._swept = 0.0
        self._sweeper: asyncio.Task[None] | None = None
        # token corrections of requests that ended, written under the next lock this process
        # takes (its next decision's) or at the end of this turn of the event loop
        self._corrections: list[tuple[Sequence[Scope], int, int, float]] = []

    async def start(self) -> None:
        self.open()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="plugbay-ratelimit-sweep")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Table]:
        table = self.table
        assert table is not None, "FileStore.start() was not awaited"
        fd = self._fd
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0)
        try:
            yield table
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0)
        try:
            slots, holders, leases = self._layout(fd)
            size = Table.size(slots, holders, leases)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # sparse: untouched records take no disk or memory
            self._map = mmap.mmap(fd, size)
            self.table = table = Table(memoryview(self._map), slots, holders, leases)
            if table.q[0] != MAGIC:
                table.init_header()
            self._claim(fd, table)
        except BaseException:
            if self.table is not None:
                self.table.q.release()
                self.table = None
            if self._map is not None:
                self._map.close()
                self._map = None
            os.close(fd)
            raise
        finally:
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)
        self._fd = fd

    def _claim(self, fd: int, table: Table) -> None:
        ledger = table.ledger
        pid = os.getpid()
        for holder in range(ledger.holders):
            if not _OFD and ledger.taken(holder) and ledger.pid(holder) == pid:
                continue  # POSIX locks never refuse their own process: that holder is alive
            if _try_lock(fd, holder):
                dead = ledger.pid(holder) if ledger.taken(holder) else 0
                reclaimed = ledger.claim(holder, pid, int(time.time() * 1000))
                if dead:
                    log.warning(
                        "%s: pid %d died holding %d slots and reservations; given back",
                        self.path,
                        dead,
                        reclaimed,
                    )
                return
        raise RuntimeError(
            f"{self.path}: all {ledger.holders} holder entries are taken "
            "(more processes than that share this rate-limit state)"
        )

    def _layout(self, fd: int) -> tuple[int, int, int]:
        """The file's sizes when it holds a valid table, else ours (it gets reset)."""
        header = os.pread(fd, HEADER * 8, 0)
        if len(header) == HEADER * 8:
            view = memoryview(header).cast("q")
            if view[0] == MAGIC and view[3] == RECORD and view[2] > 0 and view[4] > 0:
                found = (int(view[2]), int(view[4]), int(view[5]))
                if found != (self.slots, self.holders, self.leases):
                    log.warning(
                        "%s holds %d slots and %d leases per worker (config says %d and %d); "
                        "using the file's",
                        self.path,
                        found[0],
                        found[2],
                        self.slots,
                        self.leases,
                    )
                return found
        os.ftruncate(fd, 0)  # absent, older or foreign: start afresh
        return self.slots, self.holders, self.leases

    def sweep(self) -> int:
        """Give back the leases of every holder that died; return how many there were."""
        pid = os.getpid()
        reclaimed = 0
        with self._locked() as table:
            self._swept = time.monotonic()
            ledger, fd = table.ledger, self._fd
            for holder in range(ledger.holders):
                if holder == ledger.holder or not ledger.taken(holder):
                    continue
                dead = ledger.pid(holder)
                if not _OFD and dead == pid:
                    continue
                if _try_lock(fd, holder):
                    count = ledger.reclaim(holder)
                    _unlock(fd, holder)
                    reclaimed += count
                    log.warning(
                        "%s: pid %d died holding %d slots and reservations; given back",
                        self.path,
                        dead,
                        count,
                    )
        return reclaimed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                self.sweep()
            except Exception:
                log.exception("looking for dead rate-limit holders failed")

    async def charge(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        return self.charge_now(scopes, tokens, hold)

    async def settle(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        return self.settle_now(scopes, bucket, delta, lease, cost)

    # The decision never waits for anything but the lock (held for microseconds), so the
    # limiter calls these directly: no coroutine per request. They lock inline: a context
    # manager costs more than the lock itself.

    def charge_now(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        """:meth:`charge`, called without a coroutine."""
        table = self.table
        assert table is not None, "FileStore.start() was not awaited"
        fd = self._fd
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0)
        try:
            if self._corrections:
                self._correct(table)
            decision = table.charge(scopes, tokens, time.time(), hold)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)
        refused = decision.refused
        if (
            refused is not None
            and refused[1] in ("parallel", "budget")
            and time.monotonic() - self._swept > 0.25
            and self.sweep()
        ):
            with self._locked() as table:  # a dead worker held some: ask again
                decision = table.charge(scopes, tokens, time.time(), hold)
        return decision

    def settle_now(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        """:meth:`settle`, called without a coroutine.

        A token correction alone (no lease) is not written at once: it waits for the next
        lock this process takes -- its next decision's, which applies it first -- or the end
        of this turn of the event loop, whichever comes first. Under load many requests end
        per turn and one lock writes them all; to every reader the correction is simply one
        turn later (its clock is the moment the request ended).
        """
        table = self.table
        assert table is not None, "FileStore.start() was not awaited"
        if lease is None:
            if delta:
                corrections = self._corrections
                if not corrections:
                    try:
                        asyncio.get_running_loop().call_soon(self._flush_corrections)
                    except RuntimeError:  # no event loop: write it now
                        corrections.append((scopes, bucket, delta, time.time()))
                        self._flush_corrections()
                        return None
                corrections.append((scopes, bucket, delta, time.time()))
            return None
        fd = self._fd
        fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0)
        try:
            if self._corrections:
                self._correct(table)
            return table.settle(scopes, bucket, delta, time.time(), lease, cost)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, 0)

    def _correct(self, table: Table) -> None:
        """Write the waiting token corrections (the caller holds the lock)."""
        corrections, self._corrections = self._corrections, []
        for scopes, bucket, delta, now in corrections:
            table.settle(scopes, bucket, delta, now)

    def _flush_corrections(self) -> None:
        if not self._corrections:
            return  # a decision wrote them
        if self.table is None:
            self._corrections = []
            return
        with self._locked() as table:
            self._correct(table)

    async def recorded(
        self,
        receipts: Sequence[Any],
        kept: Sequence[Any],
        baselines: Sequence[tuple[Scope, int]],
    ) -> None:
        with self._locked() as table:
            table.recorded(receipts, baselines, time.time())

    async def aclose(self) -> None:
        self._flush_corrections()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.table is not None:
            with self._locked() as table:
                holder = table.ledger.holder
                table.ledger.retire()
            if holder >= 0:
                _unlock(self._fd, holder)
            self.table.q.release()
            self.table = None
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def default_path(settings: Settings) -> Path | None:
    """Beside the registry database (``plugbay.db`` -> ``plugbay.ratelimit``)."""
    database = settings.server.database
    if database == ":memory:":
        return None
    return Path(database).with_suffix(".ratelimit")


def open_store(settings: Settings, config: RateLimitConfig) -> LimitStore:
    """The store ``[ratelimit] backend`` names (built, not yet started)."""
    backend = config.backend
    if backend == "file":
        path = config.path or default_path(settings)
        if path is None:
            return MemoryStore(config.slots, config.leases)
        return FileStore(path, config.slots, config.leases)
    if backend == "memory":
        return MemoryStore(config.slots, config.leases)
    factory = _plugin_backend(backend, settings)
    store: LimitStore = factory(settings, config)
    return store


def _plugin_backend(name: str, settings: Settings) -> Callable[..., Any]:
    found = importlib.metadata.entry_points(group=BACKENDS_GROUP, name=name)
    for entry_point in found:
        factory: Callable[..., Any] = entry_point.load()
        return factory
    others = importlib.metadata.entry_points(group=BACKENDS_GROUP)
    known = sorted({"file", "memory", *(e.name for e in others)})
    hint = " (install plugbay-redis)" if name == "redis" else ""
    raise ConfigError(
        f"unknown backend {name!r}{hint}; installed: {', '.join(known)}",
        source=settings.source,
        key="ratelimit.backend",
    )
