"""Circuit breakers, one per deployment, and the stores that keep their state.

A breaker opens after ``failures`` consecutive failed attempts, or when at least
``min_requests`` attempts in the last ``window`` seconds failed at a rate of ``error_rate`` or
more; open, it refuses for ``cooldown`` seconds, then lets exactly one request through (the
probe): its success closes the breaker, its failure opens it again. A probe that never
reports (its worker was killed) is given up after another ``cooldown``.

The state (consecutive failures, open until, probe until) lives in a :class:`Slot`: plain
attributes for ``store = "memory"`` (this worker), or 64 bytes of a memory-mapped file for
``store = "file"``, shared by every worker of the node, written under an ``flock`` and only
when something changes: a healthy deployment's ``allow`` and ``success`` read a few bytes
and write nothing. The error rate is counted by each worker over its own traffic (per-second
buckets in memory); when it crosses the threshold, the worker opens the shared breaker.
Times are ``time.time()``, comparable across processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import struct
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

__all__ = [
    "Breaker",
    "BreakerConfig",
    "BreakerStore",
    "ErrorWindow",
    "FileBreakerStore",
    "MemoryBreakerStore",
    "open_store",
]


class BreakerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The ``[router.breaker]`` table."""

    failures: int = 5
    """Consecutive failed attempts that open it (0: never by count)."""
    error_rate: float = 0.5
    """Share of failed attempts over ``window`` that opens it (1.0 or more: never by rate)."""
    min_requests: int = 20
    """Attempts in the window before ``error_rate`` applies."""
    window: float = 30.0
    """Seconds the error rate is measured over."""
    cooldown: float = 30.0
    """Seconds it stays open before a probe is let through."""
    store: str = "memory"
    """``memory`` (this worker), ``file`` (every worker of this node), or a store a plugin
    registers (``redis``, with plugbay-redis)."""
    path: str | None = None
    """The ``file`` store's file; default: beside the registry database."""

    def __post_init__(self) -> None:
        if self.failures < 0 or self.min_requests < 0:
            raise ValueError("failures and min_requests must not be negative")
        if self.window <= 0 or self.cooldown <= 0:
            raise ValueError("window and cooldown must be positive")
        if self.error_rate <= 0:
            raise ValueError("error_rate must be positive")


@runtime_checkable
class Breaker(Protocol):
    """One deployment's breaker (``plugbay.Breaker``). ``now`` is ``time.time()``."""

    async def allow(self, now: float) -> bool:
        """Whether an attempt may go to the deployment now (claims the probe when due)."""
        ...

    async def success(self, now: float) -> None:
        """An attempt succeeded: closes the breaker and resets the count."""
        ...

    async def failure(self, now: float) -> None:
        """An attempt failed: counts it; opens the breaker when a threshold is crossed."""
        ...

    def state(self, now: float) -> str:
        """``closed``, ``open`` or ``half_open`` (no I/O: the last known state)."""
        ...

    def reopens_at(self) -> float | None:
        """When the cool-down ends (``time.time()``), or ``None`` when closed."""
        ...


@runtime_checkable
class BreakerStore(Protocol):
    """Where breakers keep their state (``plugbay.BreakerStore``)."""

    def breaker(self, key: str) -> Breaker:
        """The breaker of deployment ``key`` (the same object for the same key)."""
        ...

    async def aclose(self) -> None: ...


class Slot(Protocol):
    """A breaker's shared state."""

    def read(self) -> tuple[int, float, float]:
        """``(consecutive failures, open until or 0, probe until or 0)``."""
        ...

    def write(self, consecutive: int, opened_until: float, probe_until: float) -> None: ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...


class ErrorWindow:
    """This worker's attempts and failures over the last ``seconds``, per second: what a
    breaker store measures the error rate with (``plugbay.ErrorWindow``)."""

    __slots__ = ("failed", "seconds", "stamps", "total")

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, int(seconds + 0.999))
        self.stamps = [-1] * self.seconds
        self.total = [0] * self.seconds
        self.failed = [0] * self.seconds

    def add(self, now: float, failed: bool) -> None:
        second = int(now)
        index = second % self.seconds
        if self.stamps[index] != second:
            self.stamps[index], self.total[index], self.failed[index] = second, 0, 0
        self.total[index] += 1
        if failed:
            self.failed[index] += 1

    def rate(self, now: float) -> tuple[int, float]:
        oldest = int(now) - self.seconds
        total = failed = 0
        for index, stamp in enumerate(self.stamps):
            if stamp > oldest:
                total += self.total[index]
                failed += self.failed[index]
        return total, (failed / total if total else 0.0)


class SlotBreaker:
    """The breaker logic over any :class:`Slot`."""

    __slots__ = ("config", "slot", "window")

    def __init__(self, config: BreakerConfig, slot: Slot) -> None:
        self.config = config
        self.slot = slot
        self.window = ErrorWindow(config.window)

    async def allow(self, now: float) -> bool:
        _, opened_until, _ = self.slot.read()
        if not opened_until:
            return True
        if now < opened_until:
            return False
        with self.slot.locked():  # past the cool-down: one probe, across every worker
            consecutive, opened_until, probe_until = self.slot.read()
            if not opened_until:
                return True
            if now < opened_until or now < probe_until:
                return False
            self.slot.write(consecutive, opened_until, now + self.config.cooldown)
            return True

    async def success(self, now: float) -> None:
        self.window.add(now, False)
        consecutive, opened_until, _ = self.slot.read()
        if consecutive or opened_until:
            with self.slot.locked():
                self.slot.write(0, 0.0, 0.0)

    async def failure(self, now: float) -> None:
        self.window.add(now, True)
        config = self.config
        with self.slot.locked():
            consecutive, opened_until, _ = self.slot.read()
            consecutive += 1
            if opened_until:  # a failed probe, or a late report while open: a new cool-down
                self.slot.write(consecutive, now + config.cooldown, 0.0)
                return
            trip = bool(config.failures) and consecutive >= config.failures
            if not trip and config.error_rate < 1.0:
                total, rate = self.window.rate(now)
                trip = total >= max(1, config.min_requests) and rate >= config.error_rate
            self.slot.write(consecutive, now + config.cooldown if trip else 0.0, 0.0)

    def state(self, now: float) -> str:
        _, opened_until, _ = self.slot.read()
        if not opened_until:
            return "closed"
        return "open" if now < opened_until else "half_open"

    def reopens_at(self) -> float | None:
        return self.slot.read()[1] or None


# --- memory ------------------------------------------------------------------------------------


class _MemorySlot:
    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: tuple[int, float, float] = (0, 0.0, 0.0)

    def read(self) -> tuple[int, float, float]:
        return self.state

    def write(self, consecutive: int, opened_until: float, probe_until: float) -> None:
        self.state = (consecutive, opened_until, probe_until)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


class MemoryBreakerStore:
    """Breakers of this worker alone."""

    def __init__(self, config: BreakerConfig) -> None:
        self.config = config
        self._breakers: dict[str, SlotBreaker] = {}

    def breaker(self, key: str) -> Breaker:
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = SlotBreaker(self.config, _MemorySlot())
        return found

    async def aclose(self) -> None:
        pass


# --- file --------------------------------------------------------------------------------------

_MAGIC = b"PBBRK001"
_HEADER = struct.Struct("<8sII")  # magic, slot count, slot size
_SLOT = struct.Struct("<QIIddd")  # key hash, used, consecutive, open until, probe until, spare
_SLOT_SIZE = 64
_SLOTS = 1024


def _key_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1


class _FileSlot:
    __slots__ = ("offset", "store")

    def __init__(self, store: FileBreakerStore, offset: int) -> None:
        self.store = store
        self.offset = offset

    def read(self) -> tuple[int, float, float]:
        _, _, consecutive, opened_until, probe_until, _ = _SLOT.unpack_from(
            self.store.map, self.offset
        )
        return consecutive, opened_until, probe_until

    def write(self, consecutive: int, opened_until: float, probe_until: float) -> None:
        key, used, *_ = _SLOT.unpack_from(self.store.map, self.offset)
        _SLOT.pack_into(
            self.store.map,
            self.offset,
            key,
            used,
            min(consecutive, 0xFFFFFFFF),
            opened_until,
            probe_until,
            0.0,
        )

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return self.store.locked()


class FileBreakerStore:
    """Breakers shared by every process that opens ``path`` (the workers of one node).

    The file holds 1,024 slots of 64 bytes; a deployment's slot is found by a hash of its
    name (open addressing). It is made ``0600``; a file that is short or not one of ours is
    rebuilt (state is lost, never misread).
    """

    def __init__(self, config: BreakerConfig, path: str | Path) -> None:
        self.config = config
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = _HEADER.size + _SLOTS * _SLOT_SIZE
        try:
            os.fchmod(self._fd, 0o600)
            with self._flock():
                if os.fstat(self._fd).st_size < size:
                    os.ftruncate(self._fd, size)
                self.map = mmap.mmap(self._fd, size)
                magic, count, slot_size = _HEADER.unpack_from(self.map, 0)
                if (magic, count, slot_size) != (_MAGIC, _SLOTS, _SLOT_SIZE):
                    self.map[:] = bytes(size)
                    _HEADER.pack_into(self.map, 0, _MAGIC, _SLOTS, _SLOT_SIZE)
        except BaseException:
            os.close(self._fd)
            raise
        self._breakers: dict[str, SlotBreaker] = {}

    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return self._flock()

    def _offset(self, key: str) -> int:
        wanted = _key_hash(key)
        start = wanted % _SLOTS
        with self._flock():
            for step in range(_SLOTS):
                offset = _HEADER.size + ((start + step) % _SLOTS) * _SLOT_SIZE
                found, used, *_ = _SLOT.unpack_from(self.map, offset)
                if used and found == wanted:
                    return offset
                if not used:
                    _SLOT.pack_into(self.map, offset, wanted, 1, 0, 0.0, 0.0, 0.0)
                    return offset
        raise RuntimeError(f"{self.path}: every breaker slot is taken")

    def breaker(self, key: str) -> Breaker:
        found = self._breakers.get(key)
        if found is None:
            slot = _FileSlot(self, self._offset(key))
            found = self._breakers[key] = SlotBreaker(self.config, slot)
        return found

    async def aclose(self) -> None:
        if self._fd >= 0:
            self.map.close()
            os.close(self._fd)
            self._fd = -1


StoreFactory = Callable[[BreakerConfig], BreakerStore]


def open_store(
    config: BreakerConfig, database_path: str, registered: Mapping[str, StoreFactory]
) -> BreakerStore:
    """The store ``config.store`` names: ``memory``, ``file`` or a registered one."""
    if config.store == "memory":
        return MemoryBreakerStore(config)
    if config.store == "file":
        path = config.path
        if path is None:
            if database_path in ("", ":memory:"):
                raise ValueError(
                    '[router.breaker] store = "file" needs `path` when the registry is in memory'
                )
            path = f"{database_path}-breakers"
        return FileBreakerStore(config, path)
    factory = registered.get(config.store)
    if factory is None:
        known = ", ".join(sorted({"memory", "file", *registered}))
        raise ValueError(f"unknown breaker store {config.store!r} (known: {known})")
    return factory(config)
