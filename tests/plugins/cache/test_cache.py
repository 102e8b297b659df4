"""The cache in a running gateway: hits, misses, Cache-Control, streams, errors, usage."""

from __future__ import annotations

import httpx
import pytest

HELLO = [{"role": "user", "content": "hello there world"}]


def chat(gw, key: str | None = None, headers: dict | None = None, **body) -> httpx.Response:
    body = {"model": "small", "messages": HELLO, **body}
    headers = {"authorization": f"Bearer {key or gw.api_key}", **(headers or {})}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_hit_is_served_without_an_upstream_call(cached_gateway, upstream_calls, recorder):
    gw = cached_gateway()
    first = chat(gw, temperature=0)
    assert first.headers["x-plugbay-cache"] == "miss"
    second = chat(gw, temperature=0)
    assert second.status_code == 200
    assert second.headers["x-plugbay-cache"] == "hit"
    assert second.content == first.content
    assert len(upstream_calls) == 1
    assert [e.cache_status for e in recorder.wait_for(2)] == ["miss", "hit"]
    hit = recorder.events[1]
    assert hit.usage.total_tokens == 0  # no upstream tokens for a hit
    assert hit.usage.prompt_tokens == 0
    assert recorder.events[0].usage.total_tokens == 13


def test_changed_parameters_and_unknown_fields_miss(cached_gateway, upstream_calls):
    gw = cached_gateway()
    assert chat(gw, temperature=0.5).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, temperature=0.7).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, temperature=0.7, x_new_field=1).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, temperature=0.7, user="u1").headers["x-plugbay-cache"] == "hit"
    assert len(upstream_calls) == 3


def test_cache_control(cached_gateway, upstream_calls):
    gw = cached_gateway()
    assert chat(gw, headers={"cache-control": "no-store"}).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, headers={"cache-control": "no-store"}).headers["x-plugbay-cache"] == "miss"
    bypass = chat(gw, headers={"cache-control": "no-cache"})  # skips lookup, still stores
    assert bypass.headers["x-plugbay-cache"] == "bypass"
    assert chat(gw).headers["x-plugbay-cache"] == "hit"
    assert chat(gw, headers={"Cache-Control": "max-age=0, no-cache"}).headers[
        "x-plugbay-cache"
    ] == ("bypass")
    assert len(upstream_calls) == 4


def test_errors_are_never_cached_and_carry_the_header(cached_gateway, upstream_calls):
    gw = cached_gateway()
    failed = chat(gw, x_fail=True)
    assert failed.status_code == 502
    assert failed.headers["x-plugbay-cache"] == "miss"
    assert chat(gw, x_fail=True).status_code == 502
    assert len(upstream_calls) == 2
    unauthenticated = chat(gw, key="wrong-key")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["x-plugbay-cache"] == "bypass"


def test_a_stream_is_answered_from_a_cached_completion(cached_gateway, upstream_calls):
    gw = cached_gateway()
    client = gw.openai()
    complete = client.chat.completions.create(model="small", messages=HELLO, seed=1)
    stream = client.chat.completions.with_raw_response.create(
        model="small",
        messages=HELLO,
        seed=1,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert stream.headers["x-plugbay-cache"] == "hit"
    chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == complete.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].usage.total_tokens == complete.usage.total_tokens
    assert len(upstream_calls) == 1


def test_a_completed_stream_is_stored_for_later_hits(cached_gateway, upstream_calls):
    gw = cached_gateway()
    client = gw.openai()
    streamed = client.chat.completions.create(model="small", messages=HELLO, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    raw = client.chat.completions.with_raw_response.create(model="small", messages=HELLO)
    assert raw.headers["x-plugbay-cache"] == "hit"
    answer = raw.parse()
    assert answer.choices[0].message.content == text
    assert answer.choices[0].finish_reason == "stop"
    again = client.chat.completions.create(model="small", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in again if c.choices) == text
    assert len(upstream_calls) == 1


def test_a_broken_stream_is_not_stored(cached_gateway, upstream_calls):
    gw = cached_gateway()
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={"model": "small", "messages": HELLO, "stream": True, "x_break": True},
        headers={"authorization": f"Bearer {gw.api_key}"},
    ) as broken:
        assert "error" in broken.read().decode()
    again = chat(gw, stream=False, x_break=True)
    assert again.headers["x-plugbay-cache"] == "miss"
    assert len(upstream_calls) == 2


def test_embeddings_are_cached(cached_gateway, upstream_calls):
    gw = cached_gateway()
    body = {"model": "small", "input": ["one", "two"]}
    headers = {"authorization": f"Bearer {gw.api_key}"}
    first = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers)
    second = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers)
    assert first.headers["x-plugbay-cache"] == "miss"
    assert second.headers["x-plugbay-cache"] == "hit"
    assert second.json() == first.json()
    assert len(upstream_calls) == 1


@pytest.mark.parametrize(("scope", "expected"), [("key", "miss"), ("shared", "hit")])
def test_scope(cached_gateway, two_keys, scope, expected):
    gw = cached_gateway({"scope": scope}, plugins=[two_keys])
    assert chat(gw, key="key-one").headers["x-plugbay-cache"] == "miss"
    assert chat(gw, key="key-two").headers["x-plugbay-cache"] == expected
    assert chat(gw, key="key-one").headers["x-plugbay-cache"] == "hit"


def test_model_ttl_and_bounds(cached_gateway, upstream_calls):
    gw = cached_gateway({"models": {"big": {"max_entries": 1}}})
    for question in ("a", "b"):
        chat(gw, model="big", messages=[{"role": "user", "content": question}])
    again = chat(gw, model="big", messages=[{"role": "user", "content": "a"}])
    assert again.headers["x-plugbay-cache"] == "miss"  # evicted from big's own LRU
    assert (
        chat(gw, model="big", messages=[{"role": "user", "content": "a"}]).headers[
            "x-plugbay-cache"
        ]
        == "hit"
    )


def test_sqlite_cache_is_shared_by_gateways_and_survives_them(cached_gateway, tmp_path):
    path = str(tmp_path / "shared-cache.db")
    one = cached_gateway({"backend": "sqlite", "path": path})
    assert chat(one).headers["x-plugbay-cache"] == "miss"
    one.stop()
    two = cached_gateway({"backend": "sqlite", "path": path})
    assert chat(two).headers["x-plugbay-cache"] == "hit"


def test_sqlite_is_the_default_file_beside_the_registry(cached_gateway, tmp_path):
    gw = cached_gateway({"backend": "sqlite"})
    chat(gw)
    assert (tmp_path / "plugbay-0.cache.db").is_file()


def test_unknown_backend_is_a_config_error(make_gateway):
    import plugbay_cache
    from plugbay._settings import ConfigError

    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        make_gateway({"cache": {"backend": "nope"}}, plugins=[plugbay_cache])
    with pytest.raises(ConfigError, match=r"cache\.scope"):
        make_gateway({"cache": {"scope": "everyone"}}, plugins=[plugbay_cache])
