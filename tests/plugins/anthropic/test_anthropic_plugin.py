"""The plugin as the gateway sees it: discovery, registration, options, recorded usage, and
the translation helpers on their own."""

from __future__ import annotations

import asyncio
import importlib.metadata
from typing import Any

import msgspec
import openai
import pytest
from claude_gateway import Recorder, Upstream
from claude_wire import event, json_reply, message, stream_reply, text, transcript, usage

import plugbay_anthropic
from plugbay import (
    AdapterRegister,
    ChatRequest,
    PlugbayError,
    ProviderContext,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from plugbay._settings import ProviderSettings
from plugbay.schemas import ChatCompletionParams, PromptTokensDetails, Usage
from plugbay.testing import Reply
from plugbay_anthropic import wire
from plugbay_anthropic.errors import stream_error
from plugbay_anthropic.options import AnthropicOptions, VertexAnthropicOptions
from plugbay_anthropic.provider import AnthropicProvider, VertexAnthropicProvider, vertex_base_url
from plugbay_anthropic.response import FINISH_REASONS, finish_reason
from plugbay_anthropic.response import usage as translate_usage

HELLO: Any = [{"role": "user", "content": "Hello"}]


def registered_adapters(plugin: Any) -> dict[str, tuple[Any, Any]]:
    """What the plugin registers, through the core's own registrar (which checks it)."""
    found: dict[str, Any] = {}
    plugin.plugbay_register_adapters(AdapterRegister(plugin.__name__, found))
    return {name: (adapter.factory, adapter.options) for name, adapter in found.items()}


def test_entry_point() -> None:
    (found,) = [
        ep for ep in importlib.metadata.entry_points(group="plugbay") if ep.name == "anthropic"
    ]
    assert found.value == "plugbay_anthropic"
    assert found.load() is plugbay_anthropic


def test_registers_both_adapter_types() -> None:
    assert registered_adapters(plugbay_anthropic) == {
        "anthropic": (AnthropicProvider, AnthropicOptions),
        "vertex-anthropic": (VertexAnthropicProvider, VertexAnthropicOptions),
    }


def test_options_are_validated() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `projct`"):
        msgspec.convert({"project": "p", "projct": "q"}, VertexAnthropicOptions)
    with pytest.raises(msgspec.ValidationError, match="missing required field `project`"):
        msgspec.convert({}, VertexAnthropicOptions)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"structured_output": "magic"}, AnthropicOptions)
    defaults = msgspec.convert({}, AnthropicOptions)
    assert (defaults.anthropic_version, defaults.default_max_tokens) == ("2023-06-01", 4096)


@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("global", "https://aiplatform.googleapis.com/v1"),
        ("us", "https://aiplatform.us.rep.googleapis.com/v1"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com/v1"),
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1"),
    ],
)
def test_vertex_endpoints(region: str, url: str) -> None:
    assert vertex_base_url(region) == url


@pytest.mark.parametrize(
    ("type", "options", "url"),
    [
        ("anthropic", {}, "https://api.anthropic.com/v1/messages"),
        (
            "vertex-anthropic",
            {"project": "p-1", "region": "europe-west1"},
            "https://europe-west1-aiplatform.googleapis.com/v1/projects/p-1/locations/"
            "europe-west1/publishers/anthropic/models/claude-opus-4@20250514:rawPredict",
        ),
    ],
)
def test_default_endpoints(type: str, options: dict[str, Any], url: str) -> None:
    factory, options_type = registered_adapters(plugbay_anthropic)[type]
    settings = ProviderSettings(name="p", type=type, api_key="k")
    provider = factory(ProviderContext(settings, msgspec.convert(options, options_type)))
    request = ChatRequest(
        params=msgspec.convert({"model": "m", "messages": HELLO}, ChatCompletionParams),
        body={"model": "m", "messages": HELLO},
        raw=b"{}",
        public_model="m",
        upstream_model="claude-opus-4@20250514",
    )
    assert str(provider.http.url(provider._path(request, False))) == url
    asyncio.run(provider.aclose())


def test_with_the_test_kit_fixtures(make_gateway: Any, scripted_upstream: Any) -> None:
    """Through plugbay.testing's own fixtures, as a plugin author would write it."""
    gateway = make_gateway(
        {
            "providers": [
                {
                    "name": "claude",
                    "type": "anthropic",
                    "base_url": scripted_upstream.url,
                    "api_key": "sk-ant-kit",
                    "anthropic_version": "2024-01-01",
                }
            ],
            "models": [{"name": "haiku", "provider": "claude", "upstream_model": "claude-haiku"}],
        },
        plugins=[plugbay_anthropic],
    )
    scripted_upstream.script(json_reply(message([text("kit")])))
    answer = gateway.openai().chat.completions.create(model="haiku", messages=HELLO)
    assert answer.choices[0].message.content == "kit"
    sent = scripted_upstream.requests[0]
    assert sent.headers["anthropic-version"] == "2024-01-01"
    assert sent.json()["model"] == "claude-haiku"


def test_gateway_records_usage_of_whole_answers(
    client: openai.OpenAI, upstream: Upstream, finished: Recorder
) -> None:
    upstream.add(json_reply(message([text("hi")], tokens=usage(10, 3, read=90, written=5))))
    raw = client.chat.completions.with_raw_response.create(model="claude", messages=HELLO)
    recorded = finished.wait(raw.headers["x-request-id"])
    assert recorded.usage == Usage(
        prompt_tokens=105,
        completion_tokens=3,
        total_tokens=108,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=90, cache_creation_tokens=5),
    )


def test_gateway_records_usage_of_streams_without_usage_chunk(
    client: openai.OpenAI, upstream: Upstream, finished: Recorder
) -> None:
    """The client did not ask for usage; the gateway still records it."""
    answer = message([text("streamed")], tokens=usage(7, 11, read=3))
    upstream.add(stream_reply(transcript(answer)))
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=HELLO, stream=True
    )
    chunks = list(raw.parse())
    assert all(chunk.usage is None for chunk in chunks)
    recorded = finished.wait(raw.headers["x-request-id"])
    assert recorded.usage == Usage(
        prompt_tokens=10,
        completion_tokens=11,
        total_tokens=21,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=3),
    )


def test_gateway_records_input_usage_of_a_broken_stream(
    client: openai.OpenAI, upstream: Upstream, finished: Recorder
) -> None:
    answer = message([text("never finished")], tokens=usage(40, 9))
    upstream.add(stream_reply(transcript(answer)[:4]))
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIError):
        list(raw.parse())
    recorded = finished.wait(raw.headers["x-request-id"])
    assert recorded.usage is not None
    assert recorded.usage.prompt_tokens == 40
    assert recorded.status == 502


def test_events_split_across_reads_with_crlf(client: openai.OpenAI, upstream: Upstream) -> None:
    """SSE framing does not follow network reads; CRLF line ends are SSE too."""
    answer = message([text("Split across packets")], tokens=usage(5, 4))
    data = b"".join(event(e) for e in transcript(answer, pieces=3)).replace(b"\n", b"\r\n")
    fragments = [data[i : i + 37] for i in range(0, len(data), 37)]
    upstream.add(
        Reply.sse(fragments, interval=0.002, headers={"content-type": "text/event-stream"})
    )
    stream = client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Split across packets"


@pytest.mark.parametrize(("stop_reason", "expected"), sorted(FINISH_REASONS.items()))
def test_finish_reasons(stop_reason: str, expected: str) -> None:
    assert finish_reason(stop_reason, has_tool_calls=stop_reason == "tool_use") == expected


def test_finish_reason_of_the_response_format_tool() -> None:
    assert finish_reason("tool_use", has_tool_calls=False) == "stop"


def test_usage_counts_the_whole_prompt() -> None:
    native = wire.Usage(
        input_tokens=50,
        output_tokens=20,
        cache_creation_input_tokens=248,
        cache_read_input_tokens=0,
    )
    assert translate_usage(native) == Usage(
        prompt_tokens=298,
        completion_tokens=20,
        total_tokens=318,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=0, cache_creation_tokens=248),
    )


@pytest.mark.parametrize(
    ("kind", "error", "status"),
    [
        ("overloaded_error", ServiceUnavailable, 503),
        ("rate_limit_error", RateLimited, 429),
        ("api_error", UpstreamError, 502),
        ("timeout_error", UpstreamTimeout, 504),
        ("invalid_request_error", ProviderError, 400),
        ("some_new_error", UpstreamError, 502),
        (None, UpstreamError, 502),
    ],
)
def test_stream_errors(kind: str | None, error: type[PlugbayError], status: int) -> None:
    raised = stream_error(kind, "what happened")
    assert type(raised) is error
    assert raised.status_code == status
