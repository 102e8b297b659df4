"""Caching is opt-in: an answer a client asked to be random is not repeated unless the
operator said so, per model or globally."""

from __future__ import annotations

import httpx
import msgspec
import pytest

from plugbay import ChatRequest, EmbeddingsRequest, RequestContext
from plugbay.schemas import ChatCompletionParams, EmbeddingsParams
from plugbay_cache.cache import ResponseCache, reusable
from plugbay_cache.config import CacheConfig, ModelCache
from plugbay_cache.stores import MemoryStore

ROLL = [{"role": "user", "content": "roll a die"}]


def chat(gw, model: str = "dice", headers: dict | None = None, **body) -> httpx.Response:
    body = {"model": model, "messages": ROLL, **body}
    headers = {"authorization": f"Bearer {gw.api_key}", **(headers or {})}
    answer = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer


def content(answer: httpx.Response) -> str:
    text: str = answer.json()["choices"][0]["message"]["content"]
    return text


def test_installed_without_opt_in_sampled_answers_stay_random(
    cached_gateway, upstream_calls, recorder
):
    gw = cached_gateway(opt_in=False)
    first = chat(gw, temperature=1)
    second = chat(gw, temperature=1)
    assert len(upstream_calls) == 2
    assert content(first) != content(second)
    assert first.headers["x-plugbay-cache"] == second.headers["x-plugbay-cache"] == "bypass"
    # Without an opt-in nothing is cached, a greedy request or embeddings included.
    chat(gw, temperature=0)
    chat(gw, temperature=0)
    headers = {"authorization": f"Bearer {gw.api_key}"}
    body = {"model": "small", "input": "x"}
    for _ in range(2):
        embedded = httpx.post(gw.url + "/v1/embeddings", json=body, headers=headers)
        assert embedded.headers["x-plugbay-cache"] == "bypass"
    assert len(upstream_calls) == 6
    assert [e.cache_status for e in recorder.wait_for(6)] == ["bypass"] * 6


def test_with_a_global_opt_in_the_answer_is_reused(cached_gateway, upstream_calls):
    gw = cached_gateway({"enabled": True})
    first = chat(gw, temperature=1)
    second = chat(gw, temperature=1)
    assert len(upstream_calls) == 1
    assert content(first) == content(second)
    assert (first.headers["x-plugbay-cache"], second.headers["x-plugbay-cache"]) == (
        "miss",
        "hit",
    )


def test_a_model_opts_in_alone(cached_gateway, upstream_calls):
    gw = cached_gateway({"models": {"dice": {"enabled": True}}}, opt_in=False)
    assert chat(gw, temperature=1).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, temperature=1).headers["x-plugbay-cache"] == "hit"
    assert chat(gw, model="small").headers["x-plugbay-cache"] == "bypass"
    assert chat(gw, model="small").headers["x-plugbay-cache"] == "bypass"
    assert upstream_calls == ["dice", "small", "small"]


def test_a_model_opts_out_of_a_global_opt_in(cached_gateway, upstream_calls):
    gw = cached_gateway({"models": {"dice": {"enabled": False, "ttl": 5}}})
    first, second = chat(gw, temperature=1), chat(gw, temperature=1)
    assert content(first) != content(second)
    assert chat(gw, model="small").headers["x-plugbay-cache"] == "miss"
    assert chat(gw, model="small").headers["x-plugbay-cache"] == "hit"
    assert upstream_calls == ["dice", "dice", "small"]


@pytest.mark.parametrize(
    ("body", "cached"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0.0, "n": 1}, True),
        ({"temperature": 1, "seed": 7}, True),  # a seed asks for a reproducible answer
        ({}, False),  # no temperature: the upstream samples (OpenAI's default is 1)
        ({"temperature": 0.7}, False),
        ({"temperature": 0, "n": 2}, False),  # several different choices
    ],
)
def test_sampled_false_caches_only_reproducible_requests(
    cached_gateway, upstream_calls, body, cached
):
    gw = cached_gateway({"sampled": False})
    first, second = chat(gw, **body), chat(gw, **body)
    expected = ["miss", "hit"] if cached else ["bypass", "bypass"]
    assert [first.headers["x-plugbay-cache"], second.headers["x-plugbay-cache"]] == expected
    assert len(upstream_calls) == (1 if cached else 2)
    if not cached and body.get("temperature") != 0:
        assert content(first) != content(second)


def test_a_model_allows_sampled_answers_of_its_own(cached_gateway, upstream_calls):
    gw = cached_gateway({"sampled": False, "models": {"dice": {"sampled": True}}})
    assert chat(gw, temperature=1).headers["x-plugbay-cache"] == "miss"
    assert chat(gw, temperature=1).headers["x-plugbay-cache"] == "hit"
    assert chat(gw, model="small", temperature=1).headers["x-plugbay-cache"] == "bypass"


def test_a_stream_of_a_model_that_did_not_opt_in_is_not_stored(cached_gateway, upstream_calls):
    gw = cached_gateway(opt_in=False)
    client = gw.openai()
    for _ in range(2):
        raw = client.chat.completions.with_raw_response.create(
            model="small", messages=ROLL, temperature=0, stream=True
        )
        assert raw.headers["x-plugbay-cache"] == "bypass"
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert len(upstream_calls) == 2


def _chat_request(body: dict) -> ChatRequest:
    body = {"model": "m", "messages": ROLL, **body}
    params = msgspec.convert(body, ChatCompletionParams)
    raw = msgspec.json.encode(body)
    return ChatRequest(params=params, body=body, raw=raw, public_model="m", upstream_model="m")


def _ctx(model: str = "m") -> RequestContext:
    ctx = RequestContext("req_1", "chat")
    ctx.model = ctx.upstream_model = model
    ctx.provider = "p"
    return ctx


@pytest.mark.anyio
async def test_store_is_refused_without_a_lookup_when_not_opted_in():
    # ``Cache-Control: no-cache`` skips ``get`` but still calls ``set``: ``set`` must check.
    store = MemoryStore()
    request = _chat_request({"temperature": 1})
    off = ResponseCache(CacheConfig(), store)
    await off.set(_ctx(), request, b"{}")
    sampled_off = ResponseCache(CacheConfig(enabled=True, sampled=False), store)
    await sampled_off.set(_ctx(), request, b"{}")
    on = ResponseCache(CacheConfig(enabled=True), store)
    assert await on.get(_ctx(), request) is None
    await on.set(_ctx(), request, b"{}")
    assert await on.get(_ctx(), request) == b"{}"
    per_model = ResponseCache(CacheConfig(models={"m": ModelCache(enabled=False)}), store)
    ctx = _ctx()
    assert await per_model.get(ctx, request) is None
    assert ctx.cache_status == "bypass"


def test_reusable_rules():
    assert reusable(_chat_request({"temperature": 0}), "chat")
    assert reusable(_chat_request({"seed": 1, "n": 3}), "chat")
    assert not reusable(_chat_request({"temperature": 0, "n": 3}), "chat")
    assert not reusable(_chat_request({"top_p": 0.1}), "chat")
    body = {"model": "m", "input": "x"}
    params = msgspec.convert(body, EmbeddingsParams)
    embeddings = EmbeddingsRequest(
        params=params, body=body, raw=b"", public_model="m", upstream_model="m"
    )
    assert reusable(embeddings, "embeddings")


@pytest.mark.parametrize("table", [{"enabled": "yes"}, {"models": {"dice": {"sampled": 1}}}])
def test_an_opt_in_that_is_not_a_boolean_is_a_config_error(make_gateway, table):
    import plugbay_cache
    from plugbay import ConfigError

    with pytest.raises(ConfigError, match=r"(?s)bool.*(enabled|sampled)|(enabled|sampled).*bool"):
        make_gateway({"cache": table}, plugins=[plugbay_cache])
