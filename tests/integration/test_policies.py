"""Rate limits and the cache together, in front of a real upstream server."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

import plugbay_cache
import plugbay_keys
import plugbay_openai
import plugbay_ratelimit

HELLO = [{"role": "user", "content": "cached words here"}]


@pytest.fixture
def gateway(make_gateway, scripted_upstream):
    def make(ratelimit=None, cache=None):
        config = {
            "providers": [
                {
                    "name": "up",
                    "type": "openai",
                    "base_url": scripted_upstream.base_url,
                    "api_key": "sk-upstream",
                }
            ],
            "models": [{"name": "public", "provider": "up", "upstream_model": "gpt-x"}],
            "ratelimit": ratelimit or {},
            "cache": {"enabled": True, **(cache or {})},
        }
        return make_gateway(config, plugins=[plugbay_openai, plugbay_ratelimit, plugbay_cache])

    return make


def test_hit_needs_no_upstream_call_and_replays_as_a_stream(gateway, scripted_upstream):
    gw = gateway()
    client = gw.openai()
    first = client.chat.completions.create(model="public", messages=HELLO, temperature=0)
    scripted_upstream.wait_for(1)
    raw = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, temperature=0, stream=True
    )
    assert raw.headers["x-plugbay-cache"] == "hit"
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        first.choices[0].message.content
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.model == "public" for c in chunks)
    changed = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, temperature=0.5
    )
    assert changed.headers["x-plugbay-cache"] == "miss"
    unknown = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, temperature=0, extra_body={"brand_new": 1}
    )
    assert unknown.headers["x-plugbay-cache"] == "miss"
    assert len(scripted_upstream.requests) == 3  # the hit never reached the upstream


def test_a_completed_upstream_stream_serves_later_hits(gateway, scripted_upstream):
    gw = gateway()
    client = gw.openai()
    stream = client.chat.completions.create(model="public", messages=HELLO, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    answer = client.chat.completions.with_raw_response.create(model="public", messages=HELLO)
    assert answer.headers["x-plugbay-cache"] == "hit"
    assert answer.parse().choices[0].message.content == text == "cached words here"
    assert len(scripted_upstream.requests) == 1


def test_a_hit_counts_as_a_request_but_costs_no_tokens(gateway, scripted_upstream):
    gw = gateway(ratelimit={"keys": {"master": {"rpm": 3, "tpm": 100_000}}})
    client = gw.openai()
    first = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, max_tokens=50
    )
    hit = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, max_tokens=50
    )
    assert hit.headers["x-plugbay-cache"] == "hit"
    assert hit.headers["x-ratelimit-remaining-requests"] == "1"
    third = client.chat.completions.with_raw_response.create(
        model="public", messages=HELLO, max_tokens=50
    )
    spent_first = 100_000 - int(first.headers["x-ratelimit-remaining-tokens"])
    spent_third = 100_000 - int(third.headers["x-ratelimit-remaining-tokens"])
    # before the third: the first's real usage (13) and the hit's nothing; then its estimate
    assert spent_third == 13 + spent_first
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="public", messages=HELLO, max_tokens=50)
    assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.value.response.headers["x-plugbay-cache"] == "bypass"
    assert len(scripted_upstream.requests) == 1


def test_key_limits_set_through_the_admin_api(make_gateway, scripted_upstream):
    gw = make_gateway(
        {
            "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
            "models": [{"name": "mini", "provider": "up", "upstream_model": "gpt-4o-mini"}],
            "cache": {"models": {"mini": {"enabled": True}}},
        },
        plugins=[plugbay_openai, plugbay_keys, plugbay_ratelimit, plugbay_cache],
    )
    admin = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.api_key}"})
    key = admin.post("/admin/keys", json={"name": "app", "rpm": 2, "tpm": 50_000}).json()
    client = gw.openai(api_key=key["key"])
    messages = [{"role": "user", "content": "one two three"}]
    first = client.chat.completions.with_raw_response.create(model="mini", messages=messages)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-limit-tokens"] == "50000"
    hit = client.chat.completions.with_raw_response.create(model="mini", messages=messages)
    assert hit.headers["x-plugbay-cache"] == "hit"
    with pytest.raises(openai.RateLimitError) as refused:  # the hit counted as a request
        client.chat.completions.create(model="mini", messages=messages)
    assert refused.value.response.headers["x-ratelimit-limit-requests"] == "2"
    assert len(scripted_upstream.requests) == 1

    # the hit was recorded with zero tokens and zero cost
    usage = admin.get("/admin/usage", params={"group_by": "model"}).json()
    totals = usage["totals"]
    assert totals["prompt_tokens"] == 10
    assert totals["completion_tokens"] == 3
    assert totals["requests"] == 3

    # raising the key's limit through the admin API takes effect without a restart
    admin.patch(f"/admin/keys/{key['id']}", json={"rpm": 10})
    deadline = time.monotonic() + 30
    while True:
        try:
            answer = client.chat.completions.with_raw_response.create(
                model="mini", messages=messages, extra_headers={"cache-control": "no-cache"}
            )
        except openai.RateLimitError:  # the change has not reached the gateway yet
            answer = None
        if answer is not None:
            assert answer.headers["x-ratelimit-limit-requests"] == "10"
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    admin.close()
