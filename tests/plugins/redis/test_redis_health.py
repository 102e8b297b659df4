"""``GET /health/detailed`` reports the Redis connection of the limiter and the cache."""

from __future__ import annotations

import httpx

from plugbay.testing.gateway import MASTER_KEY

COMPONENTS = ["plugbay_cache.cache.ResponseCache", "plugbay_ratelimit.limiter.SlidingWindowLimiter"]


def components(gw) -> list[dict]:
    response = httpx.get(
        gw.url + "/health/detailed", headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert "redis://" not in response.text  # the URL may hold a password
    return sorted(response.json()["components"], key=lambda c: c["component"])


def test_a_reachable_redis_is_ok(redis_gateway, redis_url):
    gw = redis_gateway({"url": redis_url}, ratelimit={}, cache={})
    found = components(gw)
    assert [c["component"] for c in found] == COMPONENTS
    for entry in found:
        assert (entry["status"], entry["backend"]) == ("ok", "redis")
        assert entry["latency_ms"] >= 0


def test_a_redis_that_is_down_says_so(redis_gateway, down_url):
    gw = redis_gateway({"url": down_url, "timeout": 0.3}, ratelimit={}, cache={})
    found = components(gw)
    assert [c["component"] for c in found] == COMPONENTS
    for entry in found:
        assert entry["status"] == "down"
        assert entry["backend"] == "redis"
        assert entry["error"]  # the exception's type, no message (it may name the host)
