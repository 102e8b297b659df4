"""Cached answers in Redis: ``SET {prefix}:c:<hash> <answer> PX <ttl>``, ``GET``.

LRU bounds are Redis' own (``maxmemory`` with ``maxmemory-policy allkeys-lru``): per-model
partitions only choose TTLs here. A Redis that fails or is slow answers as a miss (and a
store is dropped), logged; a request never waits longer than ``[redis] timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from plugbay_redis.config import WarnOnce, connect, health, load_config

if TYPE_CHECKING:
    from plugbay import Settings
    from plugbay_cache.config import CacheConfig
    from plugbay_cache.stores import Partition

__all__ = ["RedisCacheStore"]

log = logging.getLogger("plugbay.redis")


class RedisCacheStore:
    """A :class:`plugbay_cache.stores.CacheStore` in Redis, shared by every node."""

    def __init__(self, settings: Settings, config: CacheConfig | None = None) -> None:
        self.config = load_config(settings)
        self.prefix = ("{" + self.config.prefix + "}:c:").encode()
        self.client: Any = None
        self._warn = WarnOnce(log)

    async def health(self) -> dict[str, Any]:
        return await health(self.client)

    async def start(self) -> None:
        self.client = connect(self.config)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def get(self, key: bytes, partition: Partition) -> bytes | None:
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                value: bytes | None = await self.client.get(self.prefix + key.hex().encode())
        except Exception as exc:
            self._warn("Redis cache lookup failed (%s: %s)", type(exc).__name__, exc)
            return None
        return value

    async def set(self, key: bytes, value: bytes, ttl: float, partition: Partition) -> None:
        if len(value) > partition.max_bytes:
            return
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                await self.client.set(
                    self.prefix + key.hex().encode(), value, px=max(1, int(ttl * 1000))
                )
        except Exception as exc:
            self._warn("Redis cache store failed (%s: %s)", type(exc).__name__, exc)
