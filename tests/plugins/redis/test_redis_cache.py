"""Cached answers on Redis: shared by gateways, TTL, outages answer as misses."""

from __future__ import annotations

import gc
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


def test_ttl(redis_gateway, redis_url, upstream_calls, redis_server):
    # Long enough that the second request comes well inside it on a busy machine; then wait
    # for Redis to expire the answer rather than sleeping for a guessed time.
    gw = redis_gateway({"url": redis_url}, cache={"ttl": 2})
    assert chat(gw).headers["x-plugbay-cache"] == "miss"
    assert chat(gw).headers["x-plugbay-cache"] == "hit"
    (key,) = redis_server.client.keys("{plugbay}:c:*")
    assert 0 < redis_server.client.pttl(key) <= 2000
    deadline = time.monotonic() + 30
    while redis_server.client.exists(key):
        assert time.monotonic() < deadline, "Redis never expired the answer"
        time.sleep(0.05)
    assert chat(gw).headers["x-plugbay-cache"] == "miss"
    assert len(upstream_calls) == 2


def test_outage_is_a_miss_and_never_hangs(redis_gateway, down_url, upstream_calls):
    gw = redis_gateway({"url": down_url, "timeout": 0.5}, cache={})
    answers = []
    for _ in range(2):
        started = time.monotonic()
        answers.append(chat(gw))
        # the lookup and the store each give up after 2 x 0.5 s; a hang would be the 30 s
        # client timeout: the bound holds on a busy machine and still tells the two apart
        assert time.monotonic() - started < 10
    assert [a.headers["x-plugbay-cache"] for a in answers] == ["miss", "miss"]
    assert [a.status_code for a in answers] == [200, 200]
    assert len(upstream_calls) == 2


def test_gateway_closes_its_connections_to_a_hanging_redis(redis_gateway, silent_redis):
    gw = redis_gateway({"url": silent_redis.url, "timeout": 0.5}, cache={})
    assert chat(gw).headers["x-plugbay-cache"] == "miss"
    gw.stop()
    gc.collect()  # a connection dropped unclosed warns (an error here) now, in this test
    silent_redis.assert_all_closed()
