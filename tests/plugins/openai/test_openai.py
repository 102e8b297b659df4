"""plugbay-openai: unit tests on httpx.MockTransport, then end to end on a scripted upstream."""

from __future__ import annotations

import asyncio

import httpx
import msgspec
import openai
import pytest

import plugbay_openai
from plugbay import ChatRequest, ProviderContext, ProviderError, RateLimited, UpstreamError
from plugbay._settings import ProviderSettings
from plugbay.schemas import ChatCompletionParams
from plugbay.testing import Reply
from plugbay_openai.provider import DEFAULT_BASE_URL, OpenAIOptions, OpenAIProvider

BODY = {"model": "public", "messages": [{"role": "user", "content": "hi"}], "x_unknown": [1]}


def chat_request(body: dict = BODY, upstream: str = "gpt-up") -> ChatRequest:
    raw = msgspec.json.encode(body)
    return ChatRequest(
        params=msgspec.convert(body, ChatCompletionParams),
        body=body,
        raw=raw,
        public_model=body["model"],
        upstream_model=upstream,
    )


def provider(handler, **options) -> OpenAIProvider:
    settings = ProviderSettings(name="oa", type="openai", api_key="sk-up", headers={"X-Extra": "1"})
    ctx = ProviderContext(settings, OpenAIOptions(**options))
    made = OpenAIProvider(ctx)
    made.http._transport = httpx.MockTransport(handler)
    return made


def completion(model: str = "gpt-up-2024") -> bytes:
    return msgspec.json.encode(
        {
            "id": "c",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )


def run(coro):
    return asyncio.run(coro)


def test_request_headers_body_and_answer():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=completion())

    made = provider(handler, organization="org-1", project="proj-1")

    async def main():
        try:
            return await made.chat(chat_request())
        finally:
            await made.aclose()

    answer = run(main())
    (request,) = seen
    assert str(request.url) == DEFAULT_BASE_URL + "/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-up"
    assert request.headers["openai-organization"] == "org-1"
    assert request.headers["openai-project"] == "proj-1"
    assert request.headers["x-extra"] == "1"
    assert msgspec.json.decode(request.content) == {**BODY, "model": "gpt-up"}
    assert msgspec.json.decode(answer.content)["model"] == "public"
    assert answer.usage.total_tokens == 4


def test_raw_bytes_are_forwarded_untouched_when_nothing_changes():
    seen: list[bytes] = []
    raw_body = b'{"model":"same","messages":[{"role":"user","content":"hi"}],  "odd": 1.50}'

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, content=completion("same"))

    made = provider(handler)
    body = msgspec.json.decode(raw_body)
    request = ChatRequest(
        params=msgspec.convert(body, ChatCompletionParams),
        body=body,
        raw=raw_body,
        public_model="same",
        upstream_model="same",
    )

    async def main():
        try:
            await made.chat(request)
        finally:
            await made.aclose()

    run(main())
    assert seen == [raw_body]


@pytest.mark.parametrize(
    ("status", "headers", "error", "expected_status"),
    [
        (429, {"retry-after": "12"}, RateLimited, 429),
        (400, {}, ProviderError, 400),
        (404, {}, ProviderError, 404),
        (401, {}, UpstreamError, 502),
        (500, {}, UpstreamError, 502),
        (503, {}, UpstreamError, 502),
    ],
)
def test_error_mapping(status, headers, error, expected_status):
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"message": "nope", "type": "t", "param": "p", "code": "c"}}
        return httpx.Response(status, json=body, headers=headers)

    made = provider(handler)

    async def main():
        try:
            await made.chat(chat_request())
        finally:
            await made.aclose()

    with pytest.raises(error) as info:
        run(main())
    assert info.value.status_code == expected_status
    if status == 429:
        assert info.value.headers["retry-after"] == "12"
    if status == 400:
        assert (info.value.message, info.value.param, info.value.code) == ("nope", "p", "c")


def sse(*events: dict | str) -> bytes:
    out = b""
    for event in events:
        data = event.encode() if isinstance(event, str) else msgspec.json.encode(event)
        out += b"data: " + data + b"\n\n"
    return out


def chunk(text: str | None, usage: dict | None = None) -> dict:
    choices = [] if text is None else [{"index": 0, "delta": {"content": text}}]
    return {"id": "x", "model": "gpt-up-2024", "choices": choices, "usage": usage}


USAGE = {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}


@pytest.mark.parametrize("client_wants_usage", [False, True])
def test_stream_asks_for_usage_and_drops_it_unless_asked(client_wants_usage):
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(msgspec.json.decode(request.content))
        return httpx.Response(
            200,
            content=sse(chunk("a"), chunk("b"), chunk(None, USAGE), "[DONE]"),
            headers={"content-type": "text/event-stream"},
        )

    made = provider(handler)
    body = {**BODY, "stream": True}
    if client_wants_usage:
        body["stream_options"] = {"include_usage": True}

    async def main():
        try:
            stream = await made.chat_stream(chat_request(body))
            events = [e async for e in stream]
            await stream.aclose()
            return stream, b"".join(events)
        finally:
            await made.aclose()

    stream, relayed = run(main())
    assert seen[0]["stream_options"] == {"include_usage": True}
    assert stream.usage.total_tokens == 4
    assert b'"model":"public"' in relayed
    assert b"gpt-up-2024" not in relayed
    assert (b'"usage":{' in relayed) is client_wants_usage
    assert b"[DONE]" not in relayed  # the core adds it


def test_stream_usage_can_be_turned_off():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(msgspec.json.decode(request.content))
        return httpx.Response(200, content=sse(chunk("a"), "[DONE]"))

    made = provider(handler, stream_usage=False)

    async def main():
        try:
            stream = await made.chat_stream(chat_request({**BODY, "stream": True}))
            [e async for e in stream]
            await stream.aclose()
        finally:
            await made.aclose()

    run(main())
    assert "stream_options" not in seen[0]


def test_an_error_event_mid_stream_raises():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=sse(chunk("a"), {"error": {"message": "overloaded", "code": "busy"}})
        )

    made = provider(handler)

    async def main():
        try:
            stream = await made.chat_stream(chat_request({**BODY, "stream": True}))
            try:
                [e async for e in stream]
            finally:
                await stream.aclose()
        finally:
            await made.aclose()

    with pytest.raises(UpstreamError) as info:
        run(main())
    assert (info.value.message, info.value.code) == ("overloaded", "busy")


# --- end to end, with a real upstream -----------------------------------------------------------


@pytest.fixture
def gw(make_gateway, scripted_upstream):
    return make_gateway(
        {
            "providers": [
                {
                    "name": "up",
                    "type": "openai",
                    "base_url": scripted_upstream.base_url,
                    "api_key": "sk-upstream",
                    "project": "proj-9",
                }
            ],
            "models": [{"name": "team/public", "provider": "up", "upstream_model": "gpt-x"}],
        },
        plugins=[plugbay_openai],
    )


def test_chat_stream_and_embeddings_end_to_end(gw, scripted_upstream, master_key):
    client = gw.openai()
    answer = client.chat.completions.create(
        model="team/public",
        messages=[{"role": "user", "content": "hello world"}],
        extra_body={"vendor_flag": True},
    )
    assert (answer.model, answer.choices[0].message.content) == ("team/public", "hello world")
    sent = scripted_upstream.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-upstream"
    assert sent.headers["openai-project"] == "proj-9"
    assert master_key not in str(sent.headers)
    assert sent.json()["vendor_flag"] is True
    assert sent.json()["model"] == "gpt-x"

    chunks = list(
        client.chat.completions.create(
            model="team/public", messages=[{"role": "user", "content": "a b c"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a b c"
    assert {c.model for c in chunks} == {"team/public"}
    assert all(c.usage is None for c in chunks)  # asked upstream, not passed on
    assert scripted_upstream.requests[1].json()["stream_options"] == {"include_usage": True}

    result = client.embeddings.create(model="team/public", input=["x", "y"])
    assert result.model == "team/public"
    assert len(result.data) == 2


def test_upstream_errors_end_to_end(gw, scripted_upstream):
    scripted_upstream.script(
        Reply.error(429, "slow down", "rate_limit_error", headers={"retry-after": "4"}),
        Reply.error(500, "boom", "server_error"),
    )
    client = gw.openai()
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(
            model="team/public", messages=[{"role": "user", "content": "x"}]
        )
    assert limited.value.response.headers["retry-after"] == "4"
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(
            model="team/public", messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 502
