"""Where cached answers live.

A store implements :class:`CacheStore`. Entries belong to a :class:`Partition` -- the
global one, or a model's own when it has LRU bounds of its own -- and each partition
evicts its least recently used entries beyond its bounds. Built in: ``memory`` (here) and
``sqlite`` (:mod:`.sqlite`). Plugins add others through the ``plugbay_cache.backends``
entry-point group (``name = "module:factory"``, ``factory(settings, config) -> CacheStore``;
``plugbay-redis`` adds ``redis``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import NamedTuple, Protocol

__all__ = ["CacheStore", "MemoryStore", "Partition"]


class Partition(NamedTuple):
    name: str
    max_entries: int
    max_bytes: int


class CacheStore(Protocol):
    async def start(self) -> None: ...

    async def get(self, key: bytes, partition: Partition) -> bytes | None:
        """The fresh value stored under ``key``, or ``None``."""
        ...

    async def set(self, key: bytes, value: bytes, ttl: float, partition: Partition) -> None: ...

    async def aclose(self) -> None: ...


class _LRU:
    __slots__ = ("entries", "size")

    def __init__(self) -> None:
        self.entries: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        self.size = 0


class MemoryStore:
    """Answers in this process's memory: the fastest, per worker, gone at restart."""

    def __init__(self) -> None:
        self._partitions: dict[str, _LRU] = {}

    async def start(self) -> None:
        pass

    async def get(self, key: bytes, partition: Partition) -> bytes | None:
        lru = self._partitions.get(partition.name)
        if lru is None:
            return None
        entry = lru.entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= time.monotonic():
            del lru.entries[key]
            lru.size -= len(value)
            return None
        lru.entries.move_to_end(key)
        return value

    async def set(self, key: bytes, value: bytes, ttl: float, partition: Partition) -> None:
        if len(value) > partition.max_bytes or partition.max_entries < 1:
            return
        lru = self._partitions.get(partition.name)
        if lru is None:
            lru = self._partitions[partition.name] = _LRU()
        entries = lru.entries
        old = entries.pop(key, None)
        if old is not None:
            lru.size -= len(old[1])
        entries[key] = (time.monotonic() + ttl, value)
        lru.size += len(value)
        while len(entries) > partition.max_entries or lru.size > partition.max_bytes:
            _, (_, evicted) = entries.popitem(last=False)
            lru.size -= len(evicted)

    async def aclose(self) -> None:
        self._partitions.clear()
