"""Per-decision cost of the policy plugins, in process (no HTTP): ``python bench/policies.py``.

Rows: a rate-limit acquire + release on each store (three scopes: key, model, key on model,
with a token estimate and a ``max_parallel`` slot; "+ budget" also reserves the worst-case
cost against a ``max_budget``), the cache's key and a hit on each store. ``--redis URL`` adds
the Redis stores (one round trip each). The gateway's HTTP benchmark measures the same
policies end to end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from plugbay import ChatRequest, Principal, RequestContext
from plugbay._pricing import Price
from plugbay._settings import Settings
from plugbay._types import RecordedUsage
from plugbay.schemas import ChatCompletionParams, Usage
from plugbay_cache.cache import ResponseCache
from plugbay_cache.config import CacheConfig
from plugbay_cache.key import cache_key
from plugbay_cache.sqlite import SQLiteStore
from plugbay_cache.stores import CacheStore
from plugbay_cache.stores import MemoryStore as CacheMemory
from plugbay_ratelimit.config import RateLimitConfig, load_config
from plugbay_ratelimit.limiter import SlidingWindowLimiter
from plugbay_ratelimit.stores import FileStore, LimitStore, MemoryStore

BODY = {
    "model": "gpt-x",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Summarise the plot of Hamlet in three sentences."},
    ],
    "temperature": 0.2,
    "max_tokens": 200,
}


def request() -> ChatRequest:
    raw = msgspec.json.encode(BODY)
    params = msgspec.convert(BODY, ChatCompletionParams)
    return ChatRequest(
        params=params, body=BODY, raw=raw, public_model="gpt-x", upstream_model="gpt-x"
    )


PRINCIPAL = Principal(key_id="k1", rpm=10**9, tpm=10**12, max_parallel=10**6)
BUDGETED = Principal(key_id="k2", rpm=10**9, tpm=10**12, max_parallel=10**6, max_budget=1e9)


class Prices:
    """The one thing the limiter asks the gateway: a model's price."""

    price = Price(input=2.5, output=10.0)

    def price_of(self, model: str) -> Price:
        return self.price


def context(req: ChatRequest, principal: Principal = PRINCIPAL) -> RequestContext:
    ctx = RequestContext("req_1", "chat")
    ctx.principal = principal
    ctx.model, ctx.provider, ctx.request = "gpt-x", "up", req
    return ctx


async def measure(name: str, step: Callable[[], Awaitable[object]], n: int) -> None:
    """Median of 5 rounds of ``n`` steps: wall time and this process's CPU time per step (on a
    shared machine the CPU figure moves far less)."""
    for _ in range(min(n, 2000)):
        await step()
    wall, cpu = [], []
    for _ in range(5):
        started, used = time.perf_counter(), time.process_time()
        for _ in range(n):
            await step()
        cpu.append((time.process_time() - used) / n * 1e6)
        wall.append((time.perf_counter() - started) / n * 1e6)
    print(f"{name:<72} {statistics.median(wall):7.1f} µs {statistics.median(cpu):7.1f} µs CPU")


HOTPATH_LIMITS = {
    "keys": {"*": {"rpm": 10**9, "tpm": 10**12}},
    "models": {"gpt-x": {"rpm": 10**9, "tpm": 10**12, "key_rpm": 10**9, "key_tpm": 10**12}},
}
"""``bench/run.py``'s policies-on target: three scopes, requests and tokens on each, no slot."""
PLAIN = Principal(key_id="k0")


async def limiter_row(name: str, store: LimitStore, n: int) -> None:
    config: RateLimitConfig = load_config(
        {"models": {"gpt-x": {"rpm": 10**9, "tpm": 10**12, "key_rpm": 10**9}}}, None
    )
    limiter = SlidingWindowLimiter(config, store)
    await limiter.start(Prices())  # type: ignore[arg-type]
    req = request()
    hotpath = SlidingWindowLimiter(load_config(HOTPATH_LIMITS, None), store)

    written = RecordedUsage(requests=(("req_1", "k2"),) * 500, spend={})
    done = 0

    async def step(principal: Principal) -> None:
        nonlocal done
        ctx = context(req, principal)
        await limiter.acquire(ctx)
        ctx.usage, ctx.first_chunk_at, ctx.cost_usd = Usage(30, 20, 50), 1.0, 0.000275
        await limiter.release(ctx)
        done += 1
        if done % 500 == 0:  # the usage writer reports every 500 records (or every second)
            await limiter.usage_recorded(Prices(), written)  # type: ignore[arg-type]

    async def hotpath_step() -> None:  # as in the gateway: no lease, the estimate corrected
        ctx = context(req, PLAIN)
        await hotpath.acquire(ctx)
        ctx.usage, ctx.first_chunk_at = Usage(30, 20, 50), 1.0
        await hotpath.release(ctx)

    await measure(f"ratelimit acquire+release, bench's hot path, {name}", hotpath_step, n)
    for principal, label in ((PRINCIPAL, ""), (BUDGETED, " + budget")):
        await measure(f"ratelimit acquire+release{label}, {name}", lambda p=principal: step(p), n)
    await store.aclose()


async def cache_row(name: str, store: CacheStore, n: int) -> None:
    cache = ResponseCache(CacheConfig(enabled=True), store)
    await store.start()
    req = request()
    ctx = context(req)
    await cache.set(ctx, req, b'{"id": "x"}' * 100)

    async def step() -> None:
        assert await cache.get(context(req), req) is not None

    await measure(f"cache hit (key + get), {name}", step, n)
    await store.aclose()


async def main(redis_url: str | None, n: int) -> None:
    req = request()
    ctx = context(req)

    async def key_only() -> None:
        cache_key(ctx, req, True)

    await measure("cache key (canonical JSON + blake2b)", key_only, n)
    with tempfile.TemporaryDirectory() as tmp:
        await limiter_row("memory store", MemoryStore(16384), n)
        await limiter_row("file store (mmap + fcntl)", FileStore(Path(tmp) / "rl", 16384), n)
        await cache_row("memory store", CacheMemory(), n)
        await cache_row("sqlite store", SQLiteStore(Path(tmp) / "c.db"), n)
        if redis_url:
            from plugbay_redis.cache import RedisCacheStore
            from plugbay_redis.ratelimit import RedisLimitStore

            settings = Settings(extra={"redis": {"url": redis_url}})
            await limiter_row("redis store", RedisLimitStore(settings), n // 10)
            await cache_row("redis store", RedisCacheStore(settings), n // 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", help="redis://... to include the Redis stores")
    parser.add_argument("-n", type=int, default=20000)
    args = parser.parse_args()
    asyncio.run(main(args.redis, args.n))
