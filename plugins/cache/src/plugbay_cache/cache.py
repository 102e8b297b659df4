"""The :class:`~plugbay.Cache` the gateway asks: keys, partitions and TTLs over a store.

The core decides *whether* to look up or store (``Cache-Control``, errors, streams); this
object decides *where*: the canonical key (:mod:`.key`), the model's TTL and LRU partition,
and the configured store.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugbay import ConfigError
from plugbay_cache.key import cache_key
from plugbay_cache.stores import CacheStore, MemoryStore, Partition

if TYPE_CHECKING:
    from plugbay import ChatRequest, EmbeddingsRequest, GatewayView, RequestContext, Settings
    from plugbay_cache.config import CacheConfig

__all__ = ["BACKENDS_GROUP", "ResponseCache", "open_store"]

BACKENDS_GROUP = "plugbay_cache.backends"


class ResponseCache:
    def __init__(self, config: CacheConfig, store: CacheStore) -> None:
        self.config = config
        self.store = store
        self.per_key = config.scope == "key"
        self._global = Partition("", config.max_entries, config.max_bytes)
        self._models: dict[str, tuple[Partition, float]] = {}
        for name, own in config.models.items():
            partition = self._global
            if own.max_entries is not None or own.max_bytes is not None:
                partition = Partition(
                    f"model:{name}",
                    own.max_entries if own.max_entries is not None else config.max_entries,
                    own.max_bytes if own.max_bytes is not None else config.max_bytes,
                )
            self._models[name] = (partition, own.ttl if own.ttl is not None else config.ttl)

    async def start(self, gateway: GatewayView) -> None:
        await self.store.start()

    async def aclose(self) -> None:
        await self.store.aclose()

    def _where(self, ctx: RequestContext) -> tuple[Partition, float]:
        found = self._models.get(ctx.model or "")
        return found if found is not None else (self._global, self.config.ttl)

    async def get(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
    ) -> bytes | None:
        key = cache_key(ctx, request, self.per_key)
        ctx.extra["cache.key"] = key
        return await self.store.get(key, self._where(ctx)[0])

    async def set(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest, content: bytes
    ) -> None:
        key = ctx.extra.get("cache.key") or cache_key(ctx, request, self.per_key)
        partition, ttl = self._where(ctx)
        await self.store.set(key, content, ttl, partition)


def default_path(settings: Settings) -> Path | None:
    """Beside the registry database (``plugbay.db`` -> ``plugbay.cache.db``)."""
    database = settings.server.database
    if database == ":memory:":
        return None
    path = Path(database)
    return path.with_name(path.stem + ".cache.db")


def open_store(settings: Settings, config: CacheConfig) -> CacheStore:
    backend = config.backend
    if backend == "memory":
        return MemoryStore()
    if backend == "sqlite":
        path = config.path or default_path(settings)
        if path is None:
            return MemoryStore()
        from plugbay_cache.sqlite import SQLiteStore

        return SQLiteStore(path)
    for entry_point in importlib.metadata.entry_points(group=BACKENDS_GROUP, name=backend):
        factory: Callable[..., Any] = entry_point.load()
        store: CacheStore = factory(settings, config)
        return store
    others = importlib.metadata.entry_points(group=BACKENDS_GROUP)
    known = sorted({"memory", "sqlite", *(e.name for e in others)})
    hint = " (install plugbay-redis)" if backend == "redis" else ""
    raise ConfigError(
        f"unknown backend {backend!r}{hint}; installed: {', '.join(known)}",
        source=settings.source,
        key="cache.backend",
    )
