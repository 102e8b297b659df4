"""Golden streams: Anthropic SSE transcripts → the exact OpenAI chunk sequence the openai SDK
receives. Transcripts follow Anthropic's documented examples (text, tool use after text,
extended thinking, ``error`` events) and recorded streams (refusal, a tool without input)."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest
from claude_gateway import Upstream
from claude_wire import (
    MSG_ID,
    PING,
    block,
    end,
    error_reply,
    json_delta,
    start,
    stop,
    stream_reply,
    text_delta,
    tool_block,
)

from plugbay.testing import RunningGateway

HELLO: Any = [{"role": "user", "content": "Hello"}]
ROLE = {"role": "assistant", "content": "", "refusal": None}
TOOLS: Any = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in ("get_weather", "get_time", "updateIssueList")
]


def opening(delta: dict[str, Any]) -> dict[str, Any]:
    """A first delta that is not text carries the role, and ``content: null``."""
    return {"role": "assistant", "content": None, **delta, "refusal": None}


def tool_delta(index: int, arguments: str, id: str | None = None, name: str = "") -> dict[str, Any]:
    call: dict[str, Any] = {"index": index}
    if id is not None:
        call.update(id=id, type="function", function={"name": name, "arguments": arguments})
    else:
        call["function"] = {"arguments": arguments}
    return {"tool_calls": [call]}


def received(chunks: list[Any], with_usage: bool) -> list[tuple[dict[str, Any], str | None]]:
    """``(delta, finish_reason)`` per chunk, after checking every chunk's envelope."""
    out = []
    created = {chunk.created for chunk in chunks}
    assert len(created) == 1
    for chunk in chunks:
        data = chunk.to_dict()
        assert data.pop("id") == MSG_ID
        assert data.pop("object") == "chat.completion.chunk"
        assert data.pop("model") == "claude"
        data.pop("created")
        if not data["choices"]:
            continue  # the usage chunk, checked by the caller
        assert ("usage" in data) is with_usage
        assert data.get("usage") is None
        (choice,) = data["choices"]
        assert choice["index"] == 0
        assert choice["logprobs"] is None
        out.append((choice["delta"], choice["finish_reason"]))
    return out


def run(
    client: openai.OpenAI, upstream: Upstream, events: list[dict[str, Any]], **kwargs: Any
) -> list[Any]:
    upstream.add(stream_reply(events))
    kwargs.setdefault("messages", HELLO)
    stream = client.chat.completions.create(model="claude", stream=True, **kwargs)
    return list(stream)


def test_text_with_usage(client: openai.OpenAI, upstream: Upstream) -> None:
    # Anthropic's basic streaming example
    events = [
        start(25),
        block(0, {"type": "text", "text": ""}),
        PING,
        text_delta(0, "Hello"),
        text_delta(0, "!"),
        stop(0),
        *end("end_turn", 15),
    ]
    chunks = run(client, upstream, events, stream_options={"include_usage": True})
    assert received(chunks, with_usage=True) == [
        (ROLE, None),
        ({"content": "Hello"}, None),
        ({"content": "!"}, None),
        ({}, "stop"),
    ]
    assert chunks[-1].choices == []
    assert chunks[-1].to_dict()["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 15,
        "total_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    body = upstream.body()
    assert body["stream"] is True
    assert upstream.last.path == "/v1/messages"


def test_no_usage_chunk_unless_asked(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [start(), block(0, {"type": "text", "text": ""}), text_delta(0, "Hi"), stop(0)]
    chunks = run(client, upstream, [*events, *end("end_turn", 2)])
    assert received(chunks, with_usage=False) == [
        (ROLE, None),
        ({"content": "Hi"}, None),
        ({}, "stop"),
    ]
    assert all(chunk.choices for chunk in chunks)


def test_tool_call_after_text(client: openai.OpenAI, upstream: Upstream) -> None:
    # Anthropic's "streaming request with tool use" example
    tool_id = "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    events = [
        start(472),
        block(0, {"type": "text", "text": ""}),
        PING,
        text_delta(0, "Okay"),
        text_delta(0, ", let's check the weather for San Francisco, CA:"),
        stop(0),
        tool_block(1, tool_id, "get_weather"),
        json_delta(1, ""),
        json_delta(1, '{"location":'),
        json_delta(1, ' "San Francisc'),
        json_delta(1, 'o, CA"'),
        json_delta(1, ', "unit": "fah'),
        json_delta(1, 'renheit"}'),
        stop(1),
        *end("tool_use", 89),
    ]
    chunks = run(client, upstream, events, tools=TOOLS, stream_options={"include_usage": True})
    assert received(chunks, with_usage=True) == [
        (ROLE, None),
        ({"content": "Okay"}, None),
        ({"content": ", let's check the weather for San Francisco, CA:"}, None),
        (tool_delta(0, "", tool_id, "get_weather"), None),
        (tool_delta(0, '{"location":'), None),
        (tool_delta(0, ' "San Francisc'), None),
        (tool_delta(0, 'o, CA"'), None),
        (tool_delta(0, ', "unit": "fah'), None),
        (tool_delta(0, 'renheit"}'), None),
        ({}, "tool_calls"),
    ]
    assert chunks[-1].usage.completion_tokens == 89


def test_parallel_tool_calls(client: openai.OpenAI, upstream: Upstream) -> None:
    """Content block 1, 2, 3 are tool calls 0, 1, 2: OpenAI numbers calls, not blocks."""
    ids = ["toolu_01A09q90qw90lq917835lq9", "toolu_01B7rPZmqgjhmmGi5zd8cQEw", "toolu_01C3vQ9"]
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Checking."),
        stop(0),
        tool_block(1, ids[0], "get_weather"),
        json_delta(1, '{"city": '),
        json_delta(1, '"Paris"}'),
        stop(1),
        tool_block(2, ids[1], "get_time"),
        PING,
        json_delta(2, '{"city": "Rome"}'),
        stop(2),
        tool_block(3, ids[2], "get_weather"),
        json_delta(3, ""),
        json_delta(3, '{"city": "Rome"}'),
        stop(3),
        *end("tool_use", 120),
    ]
    chunks = run(client, upstream, events, tools=TOOLS)
    assert received(chunks, with_usage=False) == [
        (ROLE, None),
        ({"content": "Checking."}, None),
        (tool_delta(0, "", ids[0], "get_weather"), None),
        (tool_delta(0, '{"city": '), None),
        (tool_delta(0, '"Paris"}'), None),
        (tool_delta(1, "", ids[1], "get_time"), None),
        (tool_delta(1, '{"city": "Rome"}'), None),
        (tool_delta(2, "", ids[2], "get_weather"), None),
        (tool_delta(2, '{"city": "Rome"}'), None),
        ({}, "tool_calls"),
    ]


def test_tool_without_input_gets_empty_object(client: openai.OpenAI, upstream: Upstream) -> None:
    # as recorded from the API: a tool without parameters streams one empty partial_json
    tool_id = "toolu_01QE1WLsSVp5hy5Q3GmGTmjP"
    events = [
        start(565),
        tool_block(0, tool_id, "updateIssueList"),
        PING,
        json_delta(0, ""),
        stop(0),
        *end("tool_use", 48),
    ]
    chunks = run(client, upstream, events, tools=TOOLS)
    assert received(chunks, with_usage=False) == [
        (opening(tool_delta(0, "", tool_id, "updateIssueList")), None),
        (tool_delta(0, "{}"), None),
        ({}, "tool_calls"),
    ]


def test_thinking_is_reasoning_content(client: openai.OpenAI, upstream: Upstream) -> None:
    # Anthropic's extended-thinking streaming example, shortened
    signature = {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}
    events = [
        start(),
        block(0, {"type": "thinking", "thinking": ""}),
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "1071 = 2 * 462 + 147"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "\nSo the GCD is 21."},
        },
        {"type": "content_block_delta", "index": 0, "delta": signature},
        stop(0),
        block(1, {"type": "text", "text": ""}),
        text_delta(1, "The GCD of 1071 and 462 is **21**."),
        stop(1),
        *end("end_turn", 300),
    ]
    chunks = run(client, upstream, events, reasoning_effort="medium")
    assert received(chunks, with_usage=False) == [
        (opening({"reasoning_content": "1071 = 2 * 462 + 147"}), None),
        ({"reasoning_content": "\nSo the GCD is 21."}, None),
        ({"content": "The GCD of 1071 and 462 is **21**."}, None),
        ({}, "stop"),
    ]


def test_empty_completion(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [start(12), block(0, {"type": "text", "text": ""}), stop(0), *end("end_turn", 1)]
    chunks = run(client, upstream, events, stream_options={"include_usage": True})
    assert received(chunks, with_usage=True) == [(ROLE, None), ({}, "stop")]
    assert chunks[-1].usage.total_tokens == 13


def test_max_tokens_stop(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [
        start(14),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "The history of Rome"),
        stop(0),
        *end("max_tokens", 4),
    ]
    chunks = run(client, upstream, events, max_completion_tokens=4)
    assert received(chunks, with_usage=False) == [
        (ROLE, None),
        ({"content": "The history of Rome"}, None),
        ({}, "length"),
    ]
    assert upstream.body()["max_tokens"] == 4


def test_safety_stop(client: openai.OpenAI, upstream: Upstream) -> None:
    # as recorded from the API: a refusal before any content block
    details = {"type": "refusal", "category": "cyber", "explanation": "Blocked."}
    events = [start(18), PING, *end("refusal", 5, stop_details=details)]
    chunks = run(client, upstream, events, stream_options={"include_usage": True})
    assert received(chunks, with_usage=True) == [(ROLE, None), ({}, "content_filter")]
    assert chunks[-1].usage.prompt_tokens == 18


def test_usage_with_prompt_cache_and_later_counts(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    """``message_delta`` counts are cumulative and win over ``message_start``'s."""
    events = [
        start(10, cache_read_input_tokens=1800, cache_creation_input_tokens=0),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Hi"),
        stop(0),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 300,
                "cache_read_input_tokens": 1800,
                "output_tokens": 30,
            },
        },
        {"type": "message_stop"},
    ]
    chunks = run(client, upstream, events, stream_options={"include_usage": True})
    assert chunks[-1].to_dict()["usage"] == {
        "prompt_tokens": 2112,
        "completion_tokens": 30,
        "total_tokens": 2142,
        "prompt_tokens_details": {"cached_tokens": 1800, "cache_write_tokens": 300},
    }


def test_response_format_streams_as_content(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [
        start(),
        tool_block(0, "toolu_01D7FLrfh4GYq7yT1ULFeyMV", "weather_report"),
        json_delta(0, ""),
        json_delta(0, '{"summary": "mild",'),
        json_delta(0, ' "celsius": 18}'),
        stop(0),
        *end("tool_use", 20),
    ]
    report = {"type": "json_schema", "json_schema": {"name": "weather_report", "schema": {}}}
    chunks = run(client, upstream, events, response_format=report)
    assert received(chunks, with_usage=False) == [
        (ROLE, None),
        ({"content": '{"summary": "mild",'}, None),
        ({"content": ' "celsius": 18}'}, None),
        ({}, "stop"),
    ]


def test_error_event_mid_stream(client: openai.OpenAI, upstream: Upstream) -> None:
    """What came before the error reaches the client, then the error itself."""
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Partial"),
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    upstream.add(stream_reply(events))
    stream = client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        chunks.extend(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Partial"]
    assert caught.value.message == "Overloaded"
    assert caught.value.body == {
        "message": "Overloaded",
        "type": "server_error",
        "param": None,
        "code": "upstream_overloaded",
    }


def test_stream_cut_short(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [start(), block(0, {"type": "text", "text": ""}), text_delta(0, "Half")]
    upstream.add(stream_reply(events))  # the connection ends without message_stop
    stream = client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        chunks.extend(stream)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Half"]
    assert caught.value.code == "upstream_error"
    assert "ended before the answer was complete" in caught.value.message


def test_overloaded_before_the_stream(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(error_reply(529, "overloaded_error", "Overloaded"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    assert caught.value.status_code == 503


def test_raw_wire(gateway: RunningGateway, upstream: Upstream) -> None:
    """On the wire: only ``data:`` events, the error as OpenAI's error object, then DONE."""
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Hi"),
        {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
    ]
    upstream.add(stream_reply(events))
    response = httpx.post(
        gateway.base_url + "/chat/completions",
        headers={"authorization": f"Bearer {gateway.api_key}"},
        json={"model": "claude", "messages": HELLO, "stream": True},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events_out = response.content.split(b"\n\n")
    assert events_out[-1] == b""
    assert events_out[-2] == b"data: [DONE]"
    assert all(e.startswith(b"data: {") for e in events_out[:-2])
    assert b"event:" not in response.content
    assert events_out[-3] == (
        b'data: {"error":{"message":"The upstream failed with status 500: Internal server error",'
        b'"type":"upstream_error","param":null,"code":"upstream_error"}}'
    )


def test_vertex_stream(client: openai.OpenAI, upstream: Upstream) -> None:
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Hi from Vertex"),
        stop(0),
        *end("end_turn", 4),
    ]
    upstream.add(stream_reply(events))
    stream = client.chat.completions.create(model="claude-vertex", messages=HELLO, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "Hi from Vertex"
    assert upstream.last.path == (
        "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:streamRawPredict"
    )
    body = upstream.body()
    assert body["stream"] is True
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert "model" not in body
