"""Rate-limit state in Redis: the same sliding window as the local stores, in one Lua script.

Each scope is a hash ``{prefix}:rl:<scope>`` with fields ``r<second>`` and ``t<second>``
(requests and tokens charged in that second) and ``p`` (requests in flight). One EVALSHA
per decision reads every scope, drops buckets older than the window, checks every limit and
charges them all or none -- atomically, since Redis runs a script alone -- using the Redis
server's clock, so gateway nodes with skewed clocks still share one window. Keys expire a
little after the window (ten minutes when they count requests in flight, so counts left by
a node that died heal).

When Redis fails or is slower than ``[redis] timeout``, ``on_error = "open"`` admits the
request (nothing is charged; a warning is logged) and ``"closed"`` refuses it with 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugbay.errors import ServiceUnavailable
from plugbay_ratelimit.window import Decision, Scope
from plugbay_redis.config import WarnOnce, connect, load_config

if TYPE_CHECKING:
    from plugbay.settings import Settings
    from plugbay_ratelimit.config import RateLimitConfig

__all__ = ["RedisLimitStore"]

log = logging.getLogger("plugbay.redis")

_KINDS = {1: "requests", 2: "tokens", 3: "parallel"}

CHARGE = """
local t = redis.call('TIME')
local cur = tonumber(t[1])
local now = cur + tonumber(t[2]) / 1000000
local WINDOW, RING = 60, 61
local tokens = tonumber(ARGV[1])
local function load(key)
  local flat = redis.call('HGETALL', key)
  local r, tk, rs, ts, p, stale = {}, {}, 0, 0, 0, {}
  for i = 1, #flat, 2 do
    local f, v = flat[i], tonumber(flat[i + 1])
    if f == 'p' then
      p = v
    else
      local b = tonumber(string.sub(f, 2))
      if b < cur - WINDOW then
        stale[#stale + 1] = f
      elseif string.sub(f, 1, 1) == 'r' then
        r[b] = v; rs = rs + v
      else
        tk[b] = v; ts = ts + v
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  return r, tk, rs, ts, p
end
local function reset(ring)
  for b = cur, cur - WINDOW, -1 do
    if (ring[b] or 0) > 0 then return math.floor((b + RING - now) * 1000) end
  end
  return 0
end
local function retry(ring, need)
  local freed = 0
  for b = cur - WINDOW, cur do
    freed = freed + (ring[b] or 0)
    if freed >= need then return math.floor((b + RING - now) * 1000) end
  end
  return RING * 1000
end
local refused, req_best, tok_best = nil, nil, nil
for i = 1, #KEYS do
  local rpm, tpm, par = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  local r, tk, rs, ts, p = load(KEYS[i])
  if rpm >= 0 then
    local left = rpm - rs - 1
    if req_best == nil or left < req_best[1] then req_best = {left, rpm, rs, r} end
    if left < 0 and refused == nil then refused = {i, 1, rpm, rs, r, 1} end
  end
  if tpm >= 0 then
    local left = tpm - ts - tokens
    if tok_best == nil or left < tok_best[1] then tok_best = {left, tpm, ts, tk} end
    if left < 0 and refused == nil then refused = {i, 2, tpm, ts, tk, tokens} end
  end
  if par >= 0 and refused == nil and p + 1 > par then refused = {i, 3, par, p, nil, 1} end
end
if refused == nil then
  for i = 1, #KEYS do
    local key = KEYS[i]
    redis.call('HINCRBY', key, 'r' .. cur, 1)
    if tokens > 0 then redis.call('HINCRBY', key, 't' .. cur, tokens) end
    if tonumber(ARGV[3 * i + 1]) >= 0 then
      redis.call('HINCRBY', key, 'p', 1)
      redis.call('PEXPIRE', key, 600000)
    elseif redis.call('PTTL', key) < 62000 then
      redis.call('PEXPIRE', key, 62000)
    end
  end
  if req_best then req_best[4][cur] = (req_best[4][cur] or 0) + 1 end
  if tok_best then tok_best[4][cur] = (tok_best[4][cur] or 0) + tokens end
end
local out = {refused == nil and 1 or 0, cur, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
if req_best then
  out[3] = req_best[2]
  out[4] = refused == nil and req_best[1] or (req_best[2] - req_best[3])
  out[5] = reset(req_best[4])
end
if tok_best then
  out[6] = tok_best[2]
  out[7] = refused == nil and tok_best[1] or (tok_best[2] - tok_best[3])
  out[8] = reset(tok_best[4])
end
if refused then
  out[9], out[10], out[11], out[12] = refused[1], refused[2], refused[3], refused[4]
  if refused[2] == 3 then
    out[13] = 1000
  elseif refused[6] > refused[3] then
    out[13] = -1
  else
    out[13] = retry(refused[5], refused[4] + refused[6] - refused[3])
  end
end
return out
"""

SETTLE = """
local cur = tonumber(redis.call('TIME')[1])
local bucket, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local key = KEYS[i]
  if delta ~= 0 then
    if cur - bucket <= 60 then
      if redis.call('HINCRBY', key, 't' .. bucket, delta) < 0 then
        redis.call('HSET', key, 't' .. bucket, 0)
      end
    elseif delta > 0 then
      redis.call('HINCRBY', key, 't' .. cur, delta)
    end
  end
  if ARGV[2 + i] == '1' and redis.call('HINCRBY', key, 'p', -1) < 0 then
    redis.call('HSET', key, 'p', 0)
  end
  if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, 62000) end
end
return 1
"""


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _info(limit: int, remaining: int, reset_ms: int) -> tuple[int, int, float] | None:
    return None if limit < 0 else (limit, max(0, remaining), reset_ms / 1000)


class RedisLimitStore:
    """A :class:`plugbay_ratelimit.stores.LimitStore` in Redis, shared by every node."""

    def __init__(self, settings: Settings, config: RateLimitConfig | None = None) -> None:
        self.config = load_config(settings)
        self.prefix = "{" + self.config.prefix + "}:rl:"
        self.client: Any = None
        self._warn = WarnOnce(log)

    async def start(self) -> None:
        self.client = connect(self.config)
        self._charge = self.client.register_script(CHARGE)
        self._settle = self.client.register_script(SETTLE)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def _keys(self, scopes: Sequence[Scope]) -> list[str]:
        prefix = self.prefix
        return [prefix + scope.name for scope in scopes]

    async def charge(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        args: list[int] = [tokens]
        for scope in scopes:
            args += (_limit(scope.rpm), _limit(scope.tpm), _limit(scope.parallel))
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                out = await self._charge(keys=self._keys(scopes), args=args)
        except Exception as exc:
            return self._failed(exc)
        admitted, cur = bool(out[0]), int(out[1])
        requests = _info(int(out[2]), int(out[3]), int(out[4]))
        tokens_info = _info(int(out[5]), int(out[6]), int(out[7]))
        if admitted:
            return Decision(True, cur, requests, tokens_info)
        index, kind, limit, used, retry_ms = (int(v) for v in out[8:13])
        refused = (scopes[index - 1].name, _KINDS[kind], limit, used)
        retry = None if retry_ms < 0 else retry_ms / 1000
        return Decision(False, cur, requests, tokens_info, refused, retry)

    def _failed(self, exc: Exception) -> Decision:
        self._warn(
            "Redis rate limiting failed (%s: %s); failing %s",
            type(exc).__name__,
            exc,
            self.config.on_error,
        )
        if self.config.on_error == "closed":
            raise ServiceUnavailable(
                "Rate limiting is unavailable; please try again shortly.",
                code="rate_limiter_unavailable",
            ) from exc
        return Decision(True, -1, None, None)  # bucket -1: nothing was charged

    async def settle(self, scopes: Sequence[Scope], bucket: int, delta: int) -> None:
        if bucket < 0:
            return
        args = [bucket, delta, *("1" if s.parallel is not None else "0" for s in scopes)]
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                await self._settle(keys=self._keys(scopes), args=args)
        except Exception as exc:
            self._warn("Redis rate-limit settling failed (%s: %s)", type(exc).__name__, exc)
