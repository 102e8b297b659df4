"""The ``[cache]`` table of the config file.

```toml
[cache]
backend = "memory"     # "memory" (default, this process), "sqlite" (workers of one machine,
                       # survives restarts), or a plugin's ("redis")
scope = "key"          # "key": each key sees only its own answers; "shared": all keys
ttl = 3600             # seconds an answer stays fresh
max_entries = 10000    # LRU bounds, global (models without their own share them)
max_bytes = 268435456

[cache.models.gpt-4o]  # a model with its own TTL and/or its own LRU bounds
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
    ttl: float | None = None
    """Seconds this model's answers stay fresh; default: the global ``ttl``."""
    max_entries: int | None = None
    """Give the model an LRU of its own with this many entries."""
    max_bytes: int | None = None
    """Give the model an LRU of its own with this many bytes."""


class CacheConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
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
    """Per public model name: TTL and LRU bounds of its own."""


def load_config(settings: Settings) -> CacheConfig:
    config = settings.plugin_config("cache", CacheConfig)
    source = settings.source
    if config.scope not in ("key", "shared"):
        raise ConfigError("must be `key` or `shared`", source=source, key="cache.scope")
    if config.ttl <= 0:
        raise ConfigError("must be positive", source=source, key="cache.ttl")
    return config
