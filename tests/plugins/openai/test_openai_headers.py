"""The upstream's ``x-ratelimit-*`` headers reach the client (OpenAI clients read them),
unless a plugbay rate limiter set its own; read with the openai SDK's ``with_raw_response``."""

from __future__ import annotations

from typing import Any

import msgspec
import openai
import pytest

import plugbay_openai
from plugbay import RequestContext, hookimpl
from plugbay.testing import Reply

MESSAGES: Any = [{"role": "user", "content": "hi"}]
UPSTREAM_LIMITS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "2000000",
    "x-ratelimit-remaining-tokens": "1999990",
    "x-ratelimit-reset-tokens": "0s",
}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-x",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}
CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-x",
    "choices": [{"index": 0, "delta": {"content": "hello"}, "finish_reason": "stop"}],
}


class _OwnLimits:
    """A rate limiter that writes its own headers, as plugbay-ratelimit does."""

    async def acquire(self, ctx: RequestContext) -> None:
        ctx.response_headers["x-ratelimit-limit-requests"] = "60"
        ctx.response_headers["x-ratelimit-remaining-requests"] = "59"

    async def release(self, ctx: RequestContext) -> None:
        return None


class _OwnLimitsPlugin:
    @hookimpl
    def plugbay_register_rate_limiters(self, register: Any, settings: Any) -> None:
        register(_OwnLimits())


def _replies(stream: bool) -> Reply:
    headers = {**UPSTREAM_LIMITS, "x-other-upstream-header": "not relayed"}
    if stream:
        events = [b"data: " + msgspec.json.encode(CHUNK) + b"\n\n", b"data: [DONE]\n\n"]
        return Reply.sse(events, headers=headers)
    return Reply.json(COMPLETION, headers=headers)


def _gateway(make_gateway: Any, scripted_upstream: Any, *plugins: object) -> openai.OpenAI:
    config = {
        "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
        "models": [{"name": "public", "provider": "up", "upstream_model": "gpt-x"}],
    }
    client: openai.OpenAI = make_gateway(config, plugins=[plugbay_openai, *plugins]).openai()
    return client


def _headers(client: openai.OpenAI, stream: bool) -> Any:
    raw = client.chat.completions.with_raw_response.create(
        model="public", messages=MESSAGES, stream=stream
    )
    answer = raw.parse()
    if stream:
        assert [c.choices[0].delta.content for c in answer] == ["hello"]
    else:
        assert answer.choices[0].message.content == "hello"
    return raw.headers


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_upstream_rate_limit_headers_are_relayed(
    make_gateway: Any, scripted_upstream: Any, stream: bool
) -> None:
    scripted_upstream.script(_replies(stream))
    headers = _headers(_gateway(make_gateway, scripted_upstream), stream)
    for name, value in UPSTREAM_LIMITS.items():
        assert headers[name] == value
    assert "x-other-upstream-header" not in headers
    assert headers["x-request-id"]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_plugbay_rate_limiter_s_own_headers_win(
    make_gateway: Any, scripted_upstream: Any, stream: bool
) -> None:
    scripted_upstream.script(_replies(stream))
    client = _gateway(make_gateway, scripted_upstream, _OwnLimitsPlugin())
    headers = _headers(client, stream)
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert headers["x-ratelimit-remaining-requests"] == "59"
    # none of the upstream's is mixed in with the gateway's own
    assert [name for name in headers if name.startswith("x-ratelimit-")] == [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
    ]


def test_embeddings_relay_them_too(make_gateway: Any, scripted_upstream: Any) -> None:
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
        "model": "gpt-x",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    scripted_upstream.script(Reply.json(answer, headers=UPSTREAM_LIMITS))
    client = _gateway(make_gateway, scripted_upstream)
    raw = client.embeddings.with_raw_response.create(model="public", input="hi")
    assert raw.parse().data[0].embedding == [0.5, 0.25]
    for name, value in UPSTREAM_LIMITS.items():
        assert raw.headers[name] == value
