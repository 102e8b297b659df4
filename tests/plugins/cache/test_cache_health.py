"""The cache in ``GET /health/detailed``: its store reports itself, and answers it served are
not counted as the provider's requests."""

from __future__ import annotations

import httpx

from plugbay.testing.gateway import MASTER_KEY

ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
BODY = {"model": "small", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def test_hits_are_not_the_providers_and_the_store_reports(cached_gateway, upstream_calls):
    gw = cached_gateway()
    statuses = [
        httpx.post(gw.url + "/v1/chat/completions", json=BODY, headers=ADMIN, timeout=30).headers[
            "x-plugbay-cache"
        ]
        for _ in range(3)
    ]
    assert statuses == ["miss", "hit", "hit"]
    assert upstream_calls == ["small"]
    report = httpx.get(gw.url + "/health/detailed", headers=ADMIN, timeout=30).json()
    [local] = [p for p in report["providers"] if p["name"] == "local"]
    assert (local["requests"], local["in_flight"]) == (1, 0)
    [cache] = report["components"]
    assert cache["component"] == "plugbay_cache.cache.ResponseCache"
    assert cache["status"] == "ok"
    assert cache["store"]
