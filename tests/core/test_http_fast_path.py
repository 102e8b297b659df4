"""The upstream client's two roads: the fast path straight on aiohttp when nothing watches
httpx, and the full httpx path when something does (the official OpenTelemetry httpx
instrumentation, ``instrument_client``, event hooks), so that it sees every upstream call.

Real HTTP upstreams on 127.0.0.1 (the scripted upstream); spans from the real OpenTelemetry
SDK, exported to memory.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from plugbay._aiohttp import AiohttpResponse
from plugbay._errors import UpstreamError, UpstreamTimeout
from plugbay._http import UpstreamClient, httpx_instrumented
from plugbay.testing import Reply
from tests.core.support import CHAT, relay, relay_config

COMPLETION = {"id": "c", "object": "chat.completion", "model": "m", "choices": []}
LIMITS = {"x-ratelimit-remaining-requests": "41", "x-ratelimit-limit-tokens": "9000"}
BODY = b'{"model":"m","messages":[]}'


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The official httpx instrumentation, active for the test; its spans in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = HTTPXClientInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def upstream_spans(exporter: InMemorySpanExporter, base_url: str) -> list[str]:
    """The URLs of the finished spans of calls to ``base_url``."""
    urls = []
    for span in exporter.get_finished_spans():
        attributes: dict[str, Any] = dict(span.attributes or {})
        url = str(attributes.get("url.full") or attributes.get("http.url") or "")
        if url.startswith(base_url):
            urls.append(url)
    return urls


def run(client: UpstreamClient, calls: Any) -> Any:
    async def main() -> Any:
        try:
            return await calls(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def client_for(upstream: Any, **options: Any) -> UpstreamClient:
    return UpstreamClient(
        upstream.base_url, headers={"authorization": "Bearer sk-up", "x-team": "blue"}, **options
    )


# --- the fast path ---------------------------------------------------------------------------


def test_nothing_instruments_httpx_by_default():
    assert not httpx_instrumented()


def test_post_answers_straight_from_aiohttp(scripted_upstream):
    scripted_upstream.script(Reply.json(COMPLETION, headers=LIMITS))

    async def calls(client: UpstreamClient) -> tuple[Any, ...]:
        response = await client.post("/chat/completions", BODY)
        built_before = response._request  # nobody read it: it was never built
        return response, built_before, response.request

    response, built_before, request = run(client_for(scripted_upstream), calls)
    assert isinstance(response, AiohttpResponse)
    assert isinstance(response, httpx.Response)
    assert built_before is None
    assert response.status_code == 200
    assert response.json() == COMPLETION
    # Upstream headers stay readable (the x-ratelimit-* a relay passes on).
    assert response.headers["X-RateLimit-Remaining-Requests"] == "41"
    assert response.headers.get("x-ratelimit-limit-tokens") == "9000"
    # The request, built when read, is the one that was sent.
    assert request.url == scripted_upstream.base_url + "/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-up"
    (sent,) = scripted_upstream.requests
    assert sent.path.endswith("/chat/completions")
    assert sent.body == BODY
    assert sent.headers["x-team"] == "blue"
    assert sent.headers["content-length"] == str(len(BODY))


def test_extra_headers_override_the_defaults_on_the_fast_path(scripted_upstream):
    async def calls(client: UpstreamClient) -> httpx.Response:
        return await client.post("/chat/completions", BODY, headers={"X-Team": "red", "a": "b"})

    run(client_for(scripted_upstream), calls)
    (sent,) = scripted_upstream.requests
    assert (sent.headers["x-team"], sent.headers["a"]) == ("red", "b")


def test_replaced_default_headers_are_sent_on_the_fast_path(scripted_upstream):
    async def calls(client: UpstreamClient) -> httpx.Response:
        client.headers = {"authorization": "Bearer sk-rotated"}
        return await client.post("/chat/completions", BODY)

    assert isinstance(run(client_for(scripted_upstream), calls), AiohttpResponse)
    (sent,) = scripted_upstream.requests
    assert sent.headers["authorization"] == "Bearer sk-rotated"
    assert "x-team" not in sent.headers


def test_a_fast_stream_is_relayed_as_it_comes(scripted_upstream):
    events = [b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"]
    scripted_upstream.script(Reply.sse(events, headers=LIMITS, interval=0.01))

    async def calls(client: UpstreamClient) -> tuple[httpx.Response, bytes]:
        response = await client.post("/chat/completions", BODY, stream=True)
        try:
            got = b"".join([data async for data in response.aiter_bytes()])
        finally:
            await response.aclose()
        return response, got

    response, got = run(client_for(scripted_upstream), calls)
    assert isinstance(response, AiohttpResponse)
    assert got == b"".join(events)
    assert response.headers["x-ratelimit-remaining-requests"] == "41"


def test_an_encoded_answer_is_decoded_on_the_fast_path(scripted_upstream):
    packed = gzip.compress(b'{"ok": true}')
    scripted_upstream.script(Reply.json(packed, headers={"content-encoding": "gzip"}))

    async def calls(client: UpstreamClient) -> httpx.Response:
        return await client.post("/chat/completions", BODY)

    response = run(client_for(scripted_upstream), calls)
    assert isinstance(response, AiohttpResponse)
    assert response.content == b'{"ok": true}'


def test_an_error_answer_keeps_its_headers_on_the_fast_path(scripted_upstream):
    scripted_upstream.script(Reply.error(429, "slow down", headers={"retry-after": "7"}))
    seen: list[tuple[int, bytes, str | None]] = []

    def mapper(status: int, body: bytes, headers: httpx.Headers) -> UpstreamError:
        seen.append((status, body, headers.get("retry-after")))
        return UpstreamError("mapped")

    async def calls(client: UpstreamClient) -> None:
        with pytest.raises(UpstreamError, match="mapped"):
            await client.post("/chat/completions", BODY, error=mapper)

    run(client_for(scripted_upstream), calls)
    ((status, body, retry_after),) = seen
    assert (status, retry_after) == (429, "7")
    assert b"slow down" in body


# --- the httpx path: the instrumentation sees every call -------------------------------------


def test_the_instrumentation_sees_every_upstream_call(scripted_upstream, spans):
    assert httpx_instrumented()
    scripted_upstream.script(
        Reply.json(COMPLETION, headers=LIMITS),
        Reply.sse([b"data: 1\n\n", b"data: [DONE]\n\n"]),
        Reply.json(COMPLETION),
        Reply.error(500, "boom"),
    )

    async def calls(client: UpstreamClient) -> list[httpx.Response]:
        answers = [await client.post("/chat/completions", BODY)]
        streamed = await client.post("/chat/completions", BODY, stream=True)
        got = b"".join([d async for d in streamed.aiter_bytes()])
        assert got == b"data: 1\n\ndata: [DONE]\n\n"
        await streamed.aclose()
        answers.append(streamed)
        answers.append(await client.send(client.build("POST", "/embeddings", content=BODY)))
        with pytest.raises(UpstreamError):
            await client.post("/chat/completions", BODY)
        return answers

    answers = run(client_for(scripted_upstream), calls)
    assert not any(isinstance(a, AiohttpResponse) for a in answers)
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "41"
    assert answers[0].json() == COMPLETION
    base = scripted_upstream.base_url
    assert upstream_spans(spans, base) == [
        f"{base}/chat/completions",
        f"{base}/chat/completions",
        f"{base}/embeddings",
        f"{base}/chat/completions",
    ]


def test_the_fast_path_returns_once_the_instrumentation_is_gone(scripted_upstream):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def calls(client: UpstreamClient) -> list[httpx.Response]:
        answers = [await client.post("/chat/completions", BODY)]
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        try:
            answers.append(await client.post("/chat/completions", BODY))
        finally:
            HTTPXClientInstrumentor().uninstrument()
        answers.append(await client.post("/chat/completions", BODY))
        return answers

    answers = run(client_for(scripted_upstream), calls)
    assert [isinstance(a, AiohttpResponse) for a in answers] == [True, False, True]
    assert len(upstream_spans(exporter, scripted_upstream.base_url)) == 1
    provider.shutdown()


def test_the_bounds_hold_on_the_instrumented_path(scripted_upstream, spans):
    scripted_upstream.script(
        Reply.drip(COMPLETION, interval=0.2),
        Reply.json(b"{" + b" " * 4096 + b"}"),
        Reply.sse([b"data: 1\n\n", b"data: 2\n\n"], hang_after=1),
    )

    async def calls(client: UpstreamClient) -> None:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await client.post("/chat/completions", BODY)
        assert time.monotonic() - started < 3.5
        with pytest.raises(UpstreamError, match="1024"):
            await client.post("/chat/completions", BODY)
        streamed = await client.post("/chat/completions", BODY, stream=True)
        with pytest.raises(UpstreamTimeout, match="silent"):
            async for _ in streamed.aiter_bytes():
                pass

    client = client_for(scripted_upstream, timeout=1.0, idle_timeout=0.3, max_response_size=1024)
    run(client, calls)
    assert len(upstream_spans(spans, scripted_upstream.base_url)) == 3


def test_an_instrumented_client_keeps_the_aiohttp_engine(scripted_upstream):
    """``instrument_client`` wraps the client's transport in place: calls go through it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def calls(client: UpstreamClient) -> list[httpx.Response]:
        HTTPXClientInstrumentor.instrument_client(client.client, tracer_provider=provider)
        return [
            await client.post("/chat/completions", BODY),
            await client.send(client.build("POST", "/embeddings", content=BODY)),
        ]

    answers = run(client_for(scripted_upstream), calls)
    assert not any(isinstance(a, AiohttpResponse) for a in answers)
    assert len(upstream_spans(exporter, scripted_upstream.base_url)) == 2
    provider.shutdown()


def test_event_hooks_see_every_upstream_call(scripted_upstream):
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(f"{request.method} {request.url.path}")

    async def on_response(response: httpx.Response) -> None:
        seen.append(str(response.status_code))

    async def calls(client: UpstreamClient) -> None:
        client.client.event_hooks = {"request": [on_request], "response": [on_response]}
        await client.post("/chat/completions", BODY)
        streamed = await client.post("/chat/completions", BODY, stream=True)
        await streamed.aclose()

    run(client_for(scripted_upstream), calls)
    path = httpx.URL(scripted_upstream.base_url).path + "/chat/completions"
    assert seen == [f"POST {path}", "200"] * 2


def test_the_gateway_s_upstream_calls_are_traced(
    make_gateway, scripted_upstream, master_key, spans
):
    gw = make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay])
    for extra in ({}, {"stream": True}, {}):
        response = httpx.post(
            gw.url + "/v1/chat/completions",
            json={**CHAT, **extra},
            headers={"authorization": f"Bearer {master_key}"},
            timeout=10,
        )
        assert response.status_code == 200
    base = scripted_upstream.base_url
    assert upstream_spans(spans, base) == [f"{base}/chat/completions"] * 3
