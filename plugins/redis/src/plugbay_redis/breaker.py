"""``[router.breaker] store = "redis"``: circuit breakers shared by every node.

A deployment's breaker is the hash ``{prefix}:brk:<name>`` with ``c`` (consecutive failed
attempts), ``o`` (open until, ``time.time()`` seconds, 0 when closed) and ``p`` (the probe's
claim, until). Every worker keeps a mirror of the hashes it uses, refreshed in the background
every ``REFRESH`` seconds, so a healthy deployment's ``allow`` and ``success`` never wait on
the network; claiming the probe and counting a failure are Lua scripts, atomic across nodes.
The error rate is counted by each worker over its own traffic, as core's stores do. When
Redis cannot be reached the breakers go on from the mirror and this worker's own failures
(logged, at most every 10 s): routing never waits on a broken Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from plugbay import ErrorWindow
from plugbay_redis.config import WarnOnce, connect, load_config

if TYPE_CHECKING:
    import redis.asyncio

    from plugbay import BreakerConfig, Settings

__all__ = ["REFRESH", "RedisBreakerStore"]

log = logging.getLogger("plugbay.redis.breaker")

REFRESH = 0.25
"""Seconds between two refreshes of a worker's mirror."""
_TTL_MS = 86_400_000

_PROBE = """
local o = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local p = tonumber(redis.call('HGET', KEYS[1], 'p') or '0')
local now = tonumber(ARGV[1])
if o == 0 then return 1 end
if now < o or now < p then return 0 end
redis.call('HSET', KEYS[1], 'p', tostring(now + tonumber(ARGV[2])))
return 1
"""

_READ = """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, 'c', 'o', 'p') end
return out
"""

_FAIL = """
local c = tonumber(redis.call('HGET', KEYS[1], 'c') or '0') + 1
local o = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local now, cooldown, failures = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if o > 0 or (failures > 0 and c >= failures) or ARGV[4] == '1' then
  o = now + cooldown
end
redis.call('HSET', KEYS[1], 'c', c, 'o', tostring(o), 'p', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {c, tostring(o)}
"""


class _RedisBreaker:
    __slots__ = ("key", "mirror", "store", "window")

    def __init__(self, store: RedisBreakerStore, key: str) -> None:
        self.store = store
        self.key = key
        self.mirror: tuple[int, float, float] = (0, 0.0, 0.0)
        self.window = ErrorWindow(store.config.window)

    async def allow(self, now: float) -> bool:
        _, opened_until, probe_until = self.mirror
        if not opened_until:
            return True
        if now < opened_until:
            return False
        client = self.store.client
        if client is not None:
            try:
                claimed = await client.eval(_PROBE, 1, self.key, now, self.store.config.cooldown)
            except Exception as exc:
                self.store.warn("redis breaker store unreachable (%s); using the mirror", exc)
            else:
                if claimed:
                    self.mirror = (self.mirror[0], opened_until, now + self.store.config.cooldown)
                return bool(claimed)
        if now < probe_until:  # no Redis: this worker's own probe
            return False
        self.mirror = (self.mirror[0], opened_until, now + self.store.config.cooldown)
        return True

    async def success(self, now: float) -> None:
        self.window.add(now, False)
        consecutive, opened_until, _ = self.mirror
        if not consecutive and not opened_until:
            return
        self.mirror = (0, 0.0, 0.0)
        client = self.store.client
        if client is not None:
            try:
                await client.hset(self.key, mapping={"c": 0, "o": "0", "p": "0"})
            except Exception as exc:
                self.store.warn("redis breaker store unreachable (%s)", exc)

    async def failure(self, now: float) -> None:
        self.window.add(now, True)
        config = self.store.config
        total, rate = self.window.rate(now)
        by_rate = config.error_rate < 1.0 and total >= max(1, config.min_requests)
        by_rate = by_rate and rate >= config.error_rate
        consecutive, opened_until, _ = self.mirror
        client = self.store.client
        if client is not None:
            try:
                counted, until = await client.eval(
                    _FAIL, 1, self.key, now, config.cooldown, config.failures,
                    "1" if by_rate else "0", _TTL_MS,
                )  # fmt: skip
            except Exception as exc:
                self.store.warn("redis breaker store unreachable (%s)", exc)
            else:
                self.mirror = (int(counted), float(until), 0.0)
                return
        consecutive += 1
        trip = opened_until or (config.failures and consecutive >= config.failures) or by_rate
        self.mirror = (consecutive, now + config.cooldown if trip else 0.0, 0.0)

    def state(self, now: float) -> str:
        opened_until = self.mirror[1]
        if not opened_until:
            return "closed"
        return "open" if now < opened_until else "half_open"

    def reopens_at(self) -> float | None:
        return self.mirror[1] or None


class RedisBreakerStore:
    """Breakers in Redis, mirrored in every worker."""

    def __init__(self, config: BreakerConfig, settings: Settings) -> None:
        self.config = config
        self.redis = load_config(settings)
        self.client: redis.asyncio.Redis | None = None
        self.warn = WarnOnce(log)
        self._breakers: dict[str, _RedisBreaker] = {}
        self._refresher: asyncio.Task[None] | None = None

    def breaker(self, key: str) -> _RedisBreaker:
        found = self._breakers.get(key)
        if found is None:
            found = self._breakers[key] = _RedisBreaker(self, f"{{{self.redis.prefix}}}:brk:{key}")
            self._start()
        return found

    def _start(self) -> None:
        if self._refresher is not None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # built outside the event loop: started on first use instead
            return
        self.client = connect(self.redis)
        self._refresher = asyncio.create_task(self._refresh_forever(), name="plugbay-breakers")

    async def refresh(self) -> None:
        """Read every known breaker's hash into its mirror (one round trip)."""
        if self.client is None:
            return
        breakers = list(self._breakers.values())
        if not breakers:
            return
        rows: list[Any] = await self.client.eval(
            _READ, len(breakers), *(breaker.key for breaker in breakers)
        )
        for breaker, (c, o, p) in zip(breakers, rows, strict=True):
            breaker.mirror = (int(c or 0), float(o or 0), float(p or 0))

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                self.warn("refreshing breakers from redis failed (%s)", exc)
            await asyncio.sleep(REFRESH)

    async def aclose(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        if self.client is not None:
            await self.client.aclose()
            self.client = None
