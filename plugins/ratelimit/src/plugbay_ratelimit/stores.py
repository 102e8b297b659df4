"""Where limit state lives: in this process, in a file shared by workers, or a plugin's.

A store implements :class:`LimitStore`. The built-in ones run :class:`~.window.Table`:

- ``memory``: an anonymous mmap; exact for one process.
- ``file`` (the default): a memory-mapped file under an exclusive ``fcntl`` lock held only
  for the few microseconds of a decision (no ``await`` inside it), so the workers of one
  machine share exact limits without any database query. The kernel drops the lock of a
  process that dies, so a crashed worker never wedges the others.

Other backends come from plugins through the ``plugbay_ratelimit.backends`` entry-point
group (``plugbay-redis`` adds ``redis``): ``name = "module:factory"`` where
``factory(settings, config) -> LimitStore``.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import logging
import mmap
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from plugbay.settings import ConfigError
from plugbay_ratelimit.window import HEADER, MAGIC, RECORD, Decision, Scope, Table

if TYPE_CHECKING:
    from plugbay.settings import Settings
    from plugbay_ratelimit.config import RateLimitConfig

__all__ = ["BACKENDS_GROUP", "FileStore", "LimitStore", "MemoryStore", "open_store"]

log = logging.getLogger("plugbay.ratelimit")

BACKENDS_GROUP = "plugbay_ratelimit.backends"


class LimitStore(Protocol):
    """Rate-limit state: one atomic check-and-charge, and the settling after a request."""

    async def start(self) -> None: ...

    async def charge(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        """Admit (charging one request and ``tokens`` to every scope) or refuse, atomically."""
        ...

    async def settle(self, scopes: Sequence[Scope], bucket: int, delta: int) -> None:
        """Correct the token charge made in ``bucket`` by ``delta``; end the in-flight count."""
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """State in this process only: exact for one worker."""

    def __init__(self, slots: int) -> None:
        self._map = mmap.mmap(-1, Table.size(slots))  # pages are allocated when touched
        self.table = Table(memoryview(self._map), slots)
        self.table.init_header()

    async def start(self) -> None:
        pass

    async def charge(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        return self.table.charge(scopes, tokens, time.time())

    async def settle(self, scopes: Sequence[Scope], bucket: int, delta: int) -> None:
        self.table.settle(scopes, bucket, delta, time.time())

    async def aclose(self) -> None:
        self.table.q.release()
        self._map.close()


class FileStore:
    """State in a memory-mapped file shared by every process that opens it."""

    def __init__(self, path: str | Path, slots: int) -> None:
        self.path = Path(path)
        self.slots = slots
        self._fd = -1
        self._map: mmap.mmap | None = None
        self.table: Table | None = None

    async def start(self) -> None:
        self.open()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            slots = self._layout(fd)
            size = Table.size(slots)
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)  # sparse: untouched records take no disk or memory
            self._map = mmap.mmap(fd, size)
            self.table = Table(memoryview(self._map), slots)
            if slots == self.slots and self.table.q[0] != MAGIC:
                self.table.init_header()
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
        self._fd = fd

    def _layout(self, fd: int) -> int:
        """The file's slot count when it holds a valid table, else ours (it gets reset)."""
        header = os.pread(fd, HEADER * 8, 0)
        if len(header) == HEADER * 8:
            view = memoryview(header).cast("q")
            if view[0] == MAGIC and view[3] == RECORD and view[2] > 0:
                if view[2] != self.slots:
                    log.warning(
                        "%s holds %d slots (config says %d); using the file's",
                        self.path,
                        view[2],
                        self.slots,
                    )
                return int(view[2])
        os.ftruncate(fd, 0)  # absent or foreign: start afresh
        return self.slots

    async def charge(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        table = self.table
        assert table is not None, "FileStore.start() was not awaited"
        fd = self._fd
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            return table.charge(scopes, tokens, time.time())
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    async def settle(self, scopes: Sequence[Scope], bucket: int, delta: int) -> None:
        table = self.table
        assert table is not None, "FileStore.start() was not awaited"
        fd = self._fd
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            table.settle(scopes, bucket, delta, time.time())
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    async def aclose(self) -> None:
        if self.table is not None:
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
            return MemoryStore(config.slots)
        return FileStore(path, config.slots)
    if backend == "memory":
        return MemoryStore(config.slots)
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
