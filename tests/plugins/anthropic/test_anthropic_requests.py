"""Golden requests, the conversation: OpenAI messages, sent with the openai SDK, and the exact
body (path, headers) the Messages API receives; and what cannot be translated."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from claude_gateway import API_KEY, VERTEX_TOKEN, Upstream
from claude_requests import (
    ANT_URL,
    HELLO,
    NATIVE_HELLO,
    NATIVE_WEATHER_TOOL,
    PNG,
    REPORT_SCHEMA,
    WEATHER_TOOL,
    case,
    check,
    native,
    user,
)
from claude_wire import json_reply, message, text

CASES = [
    case("minimal", {"messages": HELLO}, native(messages=NATIVE_HELLO)),
    case(
        "system and developer messages become system blocks",
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Bonjour"},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            ]
        },
        native(
            system=[
                {"type": "text", "text": "You are terse."},
                {"type": "text", "text": "Answer in French."},
            ],
            messages=[user([{"type": "text", "text": "Bonjour"}])],
        ),
    ),
    case(
        "one system message is a string",
        {"messages": [{"role": "system", "content": "You are terse."}, *HELLO]},
        native(system="You are terse.", messages=NATIVE_HELLO),
    ),
    case(
        "images: base64 data URL and http URL",
        {
            "messages": [
                user(
                    [
                        {"type": "text", "text": "What is in these images?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {"type": "image_url", "image_url": {"url": ANT_URL, "detail": "high"}},
                    ]
                )
            ]
        },
        native(
            messages=[
                user(
                    [
                        {"type": "text", "text": "What is in these images?"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {"type": "image", "source": {"type": "url", "url": ANT_URL}},
                    ]
                )
            ]
        ),
    ),
    case(
        "inline PDF file part",
        {
            "messages": [
                user(
                    [
                        {
                            "type": "file",
                            "file": {
                                "filename": "a.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0xLjQ=",
                            },
                        },
                        {"type": "text", "text": "Summarise"},
                    ]
                )
            ]
        },
        native(
            messages=[
                user(
                    [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": "JVBERi0xLjQ=",
                            },
                        },
                        {"type": "text", "text": "Summarise"},
                    ]
                )
            ]
        ),
    ),
    case(
        "tool loop: tool_use blocks, tool results merged into one user turn",
        {
            "messages": [
                user("Weather in Paris and Rome?"),
                {
                    "role": "assistant",
                    "content": "Let me check both.",
                    "tool_calls": [
                        {
                            "id": "toolu_01A09q90qw90lq917835lq9",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "toolu_01B7rPZmqgjhmmGi5zd8cQEw",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "18"},
                {
                    "role": "tool",
                    "tool_call_id": "toolu_01B7rPZmqgjhmmGi5zd8cQEw",
                    "content": [{"type": "text", "text": "21"}],
                },
                user("And tomorrow?"),
            ],
            "tools": [WEATHER_TOOL],
        },
        native(
            messages=[
                user([{"type": "text", "text": "Weather in Paris and Rome?"}]),
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Let me check both."},
                        {
                            "type": "tool_use",
                            "id": "toolu_01A09q90qw90lq917835lq9",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        },
                        {
                            "type": "tool_use",
                            "id": "toolu_01B7rPZmqgjhmmGi5zd8cQEw",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        },
                    ],
                },
                user(
                    [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
                            "content": "18",
                        },
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_01B7rPZmqgjhmmGi5zd8cQEw",
                            "content": [{"type": "text", "text": "21"}],
                        },
                        {"type": "text", "text": "And tomorrow?"},
                    ]
                ),
            ],
            tools=[NATIVE_WEATHER_TOOL],
        ),
    ),
    case(
        "a call without arguments is sent with an empty input",
        {
            "messages": [
                user("Refresh"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "toolu_01",
                            "type": "function",
                            "function": {"name": "refresh", "arguments": ""},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_01", "content": "done"},
            ],
            "tools": [{"type": "function", "function": {"name": "refresh"}}],
        },
        native(
            messages=[
                user([{"type": "text", "text": "Refresh"}]),
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_01", "name": "refresh", "input": {}}
                    ],
                },
                user([{"type": "tool_result", "tool_use_id": "toolu_01", "content": "done"}]),
            ],
            tools=[{"name": "refresh", "input_schema": {"type": "object", "properties": {}}}],
        ),
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), CASES)
def test_request_body(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    check(client, upstream, kwargs, expected)


def test_headers(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(message([text("ok")])))
    client.chat.completions.create(model="claude", messages=HELLO)
    headers = upstream.last.headers
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert "anthropic-beta" not in headers


def test_vertex_request(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(message([text("ok")])))
    client.chat.completions.create(
        model="claude-vertex", messages=HELLO, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert upstream.last.path == (
        "/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:rawPredict"
    )
    assert upstream.body() == {
        "anthropic_version": "vertex-2023-10-16",
        "messages": NATIVE_HELLO,
        "max_tokens": 2048,
        "tools": [NATIVE_WEATHER_TOOL],
        "tool_choice": {"type": "any"},
    }
    headers = upstream.last.headers
    assert headers["authorization"] == f"Bearer {VERTEX_TOKEN}"
    assert "x-api-key" not in headers
    assert "anthropic-version" not in headers


INVALID = [
    pytest.param({"messages": HELLO, "n": 2}, "n", id="n above 1"),
    pytest.param(
        {
            "messages": [
                user("hi"),
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "toolu_01",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{not json"},
                        }
                    ],
                },
            ]
        },
        "messages[1].tool_calls[0].function.arguments",
        id="tool call arguments that are not a JSON object",
    ),
    pytest.param(
        {
            "messages": [
                user([{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}])
            ]
        },
        "messages[0].content[0].type",
        id="audio part",
    ),
    pytest.param(
        {"messages": [user([{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}])]},
        "messages[0].content[0].image_url.url",
        id="data URL that is not base64",
    ),
    pytest.param(
        {"messages": [user([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])]},
        "messages[0].content[0].image_url.url",
        id="image URL of another scheme",
    ),
    pytest.param(
        {"messages": [user([{"type": "file", "file": {"file_id": "file-abc"}}])]},
        "messages[0].content[0].file.file_data",
        id="file by id",
    ),
    pytest.param(
        {"messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": {"type": "custom"}},
        "tool_choice",
        id="unknown tool_choice",
    ),
    pytest.param(
        {"messages": HELLO, "response_format": {"type": "grammar"}},
        "response_format.type",
        id="unknown response_format",
    ),
    pytest.param(
        {
            "messages": HELLO,
            "tools": [WEATHER_TOOL],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "get_weather", "schema": REPORT_SCHEMA},
            },
        },
        "response_format.json_schema.name",
        id="response_format named like a tool",
    ),
    pytest.param(
        {
            "messages": HELLO,
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
        },
        "functions",
        id="legacy functions",
    ),
]


@pytest.mark.parametrize(("kwargs", "param"), INVALID)
def test_untranslatable_requests_are_refused(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", **kwargs)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert upstream.requests == []
