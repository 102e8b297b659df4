"""plugbay-redis: Redis backends for plugbay-ratelimit, plugbay-cache and core's breakers.

The policy plugins find its rate-limit and cache stores through their backend entry-point
groups when ``backend = "redis"`` (see ``ratelimit.py`` and ``cache.py``); core's circuit
breakers find ``[router.breaker] store = "redis"`` through the hook below (``breaker.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import BreakerConfig, BreakerStore, BreakerStoreRegister, Settings


@hookimpl
def plugbay_register_breaker_stores(register: BreakerStoreRegister, settings: Settings) -> None:
    def make(config: BreakerConfig) -> BreakerStore:
        from plugbay_redis.breaker import RedisBreakerStore

        return RedisBreakerStore(config, settings)

    register.breaker_store("redis", make)
