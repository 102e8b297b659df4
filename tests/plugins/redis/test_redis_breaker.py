"""Circuit breakers shared by every node through a real redis-server."""

from __future__ import annotations

import asyncio
import time

import pytest

from plugbay import BreakerConfig, ConfigError
from plugbay._settings import parse_settings
from plugbay_redis.breaker import RedisBreakerStore


def node(redis_url: str, **config: object) -> RedisBreakerStore:
    settings = parse_settings({"redis": {"url": redis_url}}, source="test.toml")
    return RedisBreakerStore(BreakerConfig(store="redis", **config), settings)  # type: ignore[arg-type]


def test_two_nodes_share_a_breaker_and_one_probe(redis_url):
    async def main() -> None:
        a, b = node(redis_url, failures=3, cooldown=1.0), node(redis_url, failures=3, cooldown=1.0)
        try:
            on_a, on_b = a.breaker("dep"), b.breaker("dep")
            now = time.time()
            await on_a.failure(now)
            await on_b.failure(now)  # counted together: 2
            await b.refresh()
            assert on_b.state(now) == "closed"
            await on_a.failure(now)  # 3: open for every node
            await b.refresh()
            assert on_b.state(time.time()) == "open"
            assert not await on_b.allow(time.time())
            later = now + 1.1
            claims = await asyncio.gather(
                *(breaker.allow(later) for breaker in (on_a, on_b) for _ in range(10))
            )
            assert claims.count(True) == 1  # one probe across both nodes
            await on_a.success(later)
            await b.refresh()
            assert on_b.state(later) == "closed"
            assert await on_b.allow(later)
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(main())


def test_a_healthy_breaker_does_not_touch_redis(redis_url, redis_server):
    async def main() -> None:
        store = node(redis_url)
        try:
            breaker = store.breaker("calm")
            before = redis_server.client.info("stats")["total_commands_processed"]
            for _ in range(200):
                assert await breaker.allow(time.time())
                await breaker.success(time.time())
            after = redis_server.client.info("stats")["total_commands_processed"]
            assert after - before < 20  # the background refreshes only (plus INFO itself)
        finally:
            await store.aclose()

    asyncio.run(main())


def test_an_unreachable_redis_falls_back_to_this_worker(refused_url):
    async def main() -> None:
        store = node(refused_url, failures=2, cooldown=30)
        try:
            breaker = store.breaker("dep")
            now = time.time()
            await breaker.failure(now)
            await breaker.failure(now)
            assert breaker.state(now) == "open"
            assert not await breaker.allow(now)
        finally:
            await store.aclose()

    asyncio.run(main())


def test_the_redis_store_needs_a_redis_table():
    settings = parse_settings({}, source="test.toml")
    with pytest.raises(ConfigError, match=r"redis\.url"):
        RedisBreakerStore(BreakerConfig(store="redis"), settings)


def test_the_gateway_uses_the_redis_store(make_client, redis_url):
    import plugbay_redis
    from plugbay.testing import fake

    config = {
        "redis": {"url": redis_url},
        "router": {"breaker": {"store": "redis", "failures": 1, "cooldown": 30}},
        "providers": [{"name": "f1", "type": "fake"}, {"name": "f2", "type": "fake"}],
        "models": [{"name": "m", "deployments": [{"provider": "f1"}, {"provider": "f2"}]}],
    }
    gw = make_client(config, plugins=[fake, plugbay_redis])
    assert isinstance(gw.gateway.router.breakers, RedisBreakerStore)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "x_fail": True}
    assert gw.http().post("/v1/chat/completions", json=body).status_code == 502
