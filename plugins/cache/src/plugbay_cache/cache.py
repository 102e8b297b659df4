"""The :class:`~plugbay.Cache` the gateway asks: keys, partitions and TTLs over a store.

The core decides *whether* the request allows the cache (``Cache-Control``, errors,
streams); this object decides whether the *operator* does (caching is opt-in, per model or
globally: :func:`reusable`) and *where*: the canonical key (:mod:`.key`), the model's TTL and
LRU partition, and the configured store. A request the cache does not apply to is marked
``ctx.cache_status = "bypass"`` by :meth:`ResponseCache.get`: the core then neither stores its
answer nor reports a miss.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from plugbay import ConfigError
from plugbay_cache.key import cache_key
from plugbay_cache.stores import CacheStore, MemoryStore, Partition

if TYPE_CHECKING:
    from plugbay import ChatRequest, EmbeddingsRequest, GatewayView, RequestContext, Settings
    from plugbay_cache.config import CacheConfig

__all__ = ["BACKENDS_GROUP", "ResponseCache", "open_store", "reusable"]

BACKENDS_GROUP = "plugbay_cache.backends"


class _Policy(NamedTuple):
    """What the operator allows for one model, resolved once at start-up."""

    enabled: bool
    sampled: bool
    partition: Partition
    ttl: float


def reusable(request: ChatRequest | EmbeddingsRequest, endpoint: str) -> bool:
    """Whether the client asked for an answer that may be given again.

    Embeddings are; a chat request is when it gives a ``seed`` (it asks for a reproducible
    answer), or when it asks for ``temperature`` 0 and at most one choice. Without a
    ``temperature`` the upstream samples (OpenAI's default is 1), so that is a sampled answer.
    """
    if endpoint != "chat":
        return True
    body = request.body
    if body.get("seed") is not None:
        return True
    n = body.get("n")
    return body.get("temperature") == 0 and (n is None or n == 1)


class ResponseCache:
    def __init__(self, config: CacheConfig, store: CacheStore) -> None:
        self.config = config
        self.store = store
        self.per_key = config.scope == "key"
        self._global = Partition("", config.max_entries, config.max_bytes)
        self._default = _Policy(config.enabled, config.sampled, self._global, config.ttl)
        self._models: dict[str, _Policy] = {}
        for name, own in config.models.items():
            partition = self._global
            if own.max_entries is not None or own.max_bytes is not None:
                partition = Partition(
                    f"model:{name}",
                    own.max_entries if own.max_entries is not None else config.max_entries,
                    own.max_bytes if own.max_bytes is not None else config.max_bytes,
                )
            self._models[name] = _Policy(
                own.enabled if own.enabled is not None else config.enabled,
                own.sampled if own.sampled is not None else config.sampled,
                partition,
                own.ttl if own.ttl is not None else config.ttl,
            )

    async def health(self) -> dict[str, Any]:
        """For ``GET /health/detailed``: the store's own report (Redis: a PING), if it has one."""
        check = getattr(self.store, "health", None)
        if check is None:
            return {"status": "ok", "store": type(self.store).__name__}
        report: dict[str, Any] = await check()
        return report

    async def start(self, gateway: GatewayView) -> None:
        await self.store.start()

    async def aclose(self) -> None:
        await self.store.aclose()

    def _policy(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
    ) -> _Policy | None:
        """The model's policy, or ``None`` when the operator did not opt this request in."""
        policy = self._models.get(ctx.model or "", self._default)
        if not policy.enabled or not (policy.sampled or reusable(request, ctx.endpoint)):
            return None
        return policy

    async def get(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
    ) -> bytes | None:
        policy = self._policy(ctx, request)
        if policy is None:
            ctx.cache_status = "bypass"
            return None
        key = cache_key(ctx, request, self.per_key)
        ctx.extra["cache.key"] = key
        return await self.store.get(key, policy.partition)

    async def set(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest, content: bytes
    ) -> None:
        # Asked without a lookup too (``Cache-Control: no-cache``), so the policy is checked here.
        policy = self._policy(ctx, request)
        if policy is None:
            return
        key = ctx.extra.get("cache.key") or cache_key(ctx, request, self.per_key)
        await self.store.set(key, content, policy.ttl, policy.partition)


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
