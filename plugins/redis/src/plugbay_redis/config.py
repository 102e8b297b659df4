"""The ``[redis]`` table and the client built from it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay import ConfigError

if TYPE_CHECKING:
    import redis.asyncio

    from plugbay import Settings

__all__ = ["RedisConfig", "WarnOnce", "connect", "health", "load_config"]


class RedisConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: str
    """``redis://[user:password@]host:port/db``, ``rediss://`` for TLS, ``unix://path``."""
    on_error: str = "open"
    """When Redis cannot be reached: ``open`` admits requests, ``closed`` refuses them (503)."""
    timeout: float = 0.25
    """Seconds allowed to connect and to answer; a request never waits longer for Redis."""
    prefix: str = "plugbay"
    """Start of every key (in braces, so one gateway's keys share a Cluster slot)."""
    lease_ttl: float = 3.0
    """Seconds a worker's slots and budget reservations outlive it: each worker renews its
    leases every third of this; a worker silent for longer is taken for dead."""


def load_config(settings: Settings) -> RedisConfig:
    table = settings.plugin_settings("redis")
    if "url" not in table:
        raise ConfigError(
            'a [redis] url is required by backend = "redis"',
            source=settings.source,
            key="redis.url",
        )
    config = settings.plugin_config("redis", RedisConfig)
    if not 0.3 <= config.lease_ttl <= 3600:
        raise ConfigError(
            "must be between 0.3 and 3600 seconds", source=settings.source, key="redis.lease_ttl"
        )
    if config.on_error not in ("open", "closed"):
        raise ConfigError(
            "must be `open` or `closed`", source=settings.source, key="redis.on_error"
        )
    return config


def connect(config: RedisConfig) -> redis.asyncio.Redis:
    """A client that gives up fast: short timeouts and no retries (the caller decides)."""
    import redis.asyncio
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        config.url,
        socket_timeout=config.timeout,
        socket_connect_timeout=config.timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
    )
    return client


async def health(client: Any) -> dict[str, Any]:
    """What ``GET /health/detailed`` shows of a store's connection: a PING, bounded by the
    client's ``[redis] timeout`` (the URL is never shown: it may hold a password)."""
    if client is None:
        return {"status": "not_started", "backend": "redis"}
    started = time.perf_counter()
    try:
        await client.ping()
    except Exception as exc:
        return {"status": "down", "backend": "redis", "error": type(exc).__name__}
    return {
        "status": "ok",
        "backend": "redis",
        "latency_ms": round((time.perf_counter() - started) * 1e3, 3),
    }


class WarnOnce:
    """Log a Redis failure at most every ``interval`` seconds (an outage is not a flood)."""

    def __init__(self, log: logging.Logger, interval: float = 10.0) -> None:
        self.log, self.interval, self._last = log, interval, 0.0

    def __call__(self, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.log.warning(message, *args)
