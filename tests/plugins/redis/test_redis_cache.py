"""Cached answers on Redis: shared by gateways, TTL, outages answer as misses."""

from __future__ import annotations

import time

import httpx


def chat(gw, **body) -> httpx.Response:
    return httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "small", "messages": [{"role": "user", "content": "hi there"}], **body},
        headers={"authorization": "Bearer key-a"},
        timeout=30,
    )


def test_hits_are_shared_by_gateways(redis_gateway, redis_url, upstream_calls, redis_server):
    one = redis_gateway({"url": redis_url}, cache={})
    two = redis_gateway({"url": redis_url}, cache={})
    assert chat(one).headers["x-plugbay-cache"] == "miss"
    hit = chat(two)
    assert hit.headers["x-plugbay-cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == "hi there"
    assert len(upstream_calls) == 1
    keys = redis_server.client.keys("{plugbay}:c:*")
    assert len(keys) == 1
    assert 0 < redis_server.client.pttl(keys[0]) <= 3600 * 1000


def test_ttl(redis_gateway, redis_url, upstream_calls):
    gw = redis_gateway({"url": redis_url}, cache={"ttl": 0.3})
    assert chat(gw).headers["x-plugbay-cache"] == "miss"
    assert chat(gw).headers["x-plugbay-cache"] == "hit"
    time.sleep(0.5)
    assert chat(gw).headers["x-plugbay-cache"] == "miss"


def test_outage_is_a_miss_and_never_hangs(redis_gateway, silent_port, upstream_calls):
    gw = redis_gateway({"url": f"redis://127.0.0.1:{silent_port}/0", "timeout": 0.2}, cache={})
    started = time.monotonic()
    answers = [chat(gw) for _ in range(2)]
    assert [a.headers["x-plugbay-cache"] for a in answers] == ["miss", "miss"]
    assert [a.status_code for a in answers] == [200, 200]
    assert time.monotonic() - started < 3.0
    assert len(upstream_calls) == 2
