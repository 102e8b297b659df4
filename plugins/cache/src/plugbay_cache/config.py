"""The ``[cache]`` table of the config file.

```toml
[cache]
enabled = false        # opt in: cache every model's answers (default: nothing is cached)
sampled = true         # with false, only answers a client asked to be reproducible
                       # (temperature 0, or a seed) are cached; see README "When..."
backend = "memory"     # "memory" (default, this process), "sqlite" (workers of one machine,
                       # survives restarts), or a plugin's ("redis")
scope = "key"          # "key": each key sees only its own answers; "shared": all keys
ttl = 3600             # seconds an answer stays fresh
max_entries = 10000    # LRU bounds, global (models without their own share them)
max_bytes = 268435456

[cache.models."gpt-4o"]  # a model's own opt-in, TTL and/or LRU bounds
enabled = true
ttl = 600
max_entries = 1000
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from plugbay import ConfigError

if TYPE_CHECKING:
    from plugbay import Settings

__all__ = ["CacheConfig", "ModelCache", "load_config"]


class ModelCache(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool | None = None
    """Cache this model's answers (``true``) or never (``false``); default: ``cache.enabled``."""
    sampled: bool | None = None
    """Cache its sampled answers too (see :attr:`CacheConfig.sampled`); default: global."""
    ttl: float | None = None
    """Seconds this model's answers stay fresh; default: the global ``ttl``."""
    max_entries: int | None = None
    """Give the model an LRU of its own with this many entries."""
    max_bytes: int | None = None
    """Give the model an LRU of its own with this many bytes."""


class CacheConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool = False
    """Cache every model's answers; off by default: a model opts in with its own ``enabled``."""
    sampled: bool = True
    """With ``false``, a chat request that asks for a sampled answer (``temperature`` other
    than 0 or not given, or ``n`` > 1) and gives no ``seed`` is neither served from the cache
    nor stored; embeddings are always cacheable."""
    backend: str = "memory"
    """``memory``, ``sqlite``, or a backend a plugin provides (``redis``)."""
    scope: str = "key"
    """``key`` (answers are cached per API key) or ``shared`` (one cache for all keys)."""
    ttl: float = 3600.0
    """Seconds an answer stays fresh."""
    max_entries: int = 10_000
    """Entries kept (least recently used go first)."""
    max_bytes: int = 256 * 1024 * 1024
    """Bytes of answers kept (least recently used go first)."""
    path: str | None = None
    """The ``sqlite`` backend's file; default: beside the registry (``plugbay.cache.db``)."""
    models: dict[str, ModelCache] = msgspec.field(default_factory=dict)
    """Per public model name: opt-in, TTL and LRU bounds of its own."""


def load_config(settings: Settings) -> CacheConfig:
    config = settings.plugin_config("cache", CacheConfig)
    source = settings.source
    if config.scope not in ("key", "shared"):
        raise ConfigError("must be `key` or `shared`", source=source, key="cache.scope")
    if config.ttl <= 0:
        raise ConfigError("must be positive", source=source, key="cache.ttl")
    return config
