"""Golden requests: an OpenAI request, sent with the openai SDK, and the exact body (and path
and headers) the Messages API receives."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from claude_wire import json_reply, message, text
from conftest import API_KEY, VERTEX_TOKEN, Upstream

UPSTREAM_MODEL = "claude-sonnet-4-5"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": WEATHER_SCHEMA,
    },
}
NATIVE_WEATHER_TOOL = {
    "name": "get_weather",
    "input_schema": WEATHER_SCHEMA,
    "description": "Get the current weather in a city",
}
REPORT_SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string"}, "celsius": {"type": "number"}},
    "required": ["summary", "celsius"],
    "additionalProperties": False,
}
JSON_TOOL_DESCRIPTION = "Respond with a JSON object that matches this schema."
HELLO = [{"role": "user", "content": "Hello, Claude"}]
NATIVE_HELLO = [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)
ANT_URL = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"


def native(**fields: Any) -> dict[str, Any]:
    """The body the Messages API should receive (model and max_tokens defaulted)."""
    return {"model": UPSTREAM_MODEL, "max_tokens": 4096, **fields}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def case(id: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> Any:
    return pytest.param(kwargs, expected, id=id)


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
    case(
        "max_completion_tokens, temperature, top_p, stop string",
        {
            "messages": HELLO,
            "max_completion_tokens": 300,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
        },
        native(
            messages=NATIVE_HELLO,
            max_tokens=300,
            temperature=0.2,
            top_p=0.9,
            stop_sequences=["END"],
        ),
    ),
    case(
        "legacy max_tokens, stop list, temperature above 1 sent as 1",
        {"messages": HELLO, "max_tokens": 50, "stop": ["\n\nHuman:", "END"], "temperature": 1.7},
        native(
            messages=NATIVE_HELLO,
            max_tokens=50,
            stop_sequences=["\n\nHuman:", "END"],
            temperature=1.0,
        ),
    ),
    case(
        "fields without a Messages API meaning are never sent",
        {
            "messages": HELLO,
            "seed": 7,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.5,
            "logprobs": True,
            "top_logprobs": 2,
            "logit_bias": {"50256": -100},
            "metadata": {"session": "s1"},
            "store": True,
            "service_tier": "auto",
            "n": 1,
            "stream_options": None,
            "extra_body": {"mystery_field": {"x": 1}},
        },
        native(messages=NATIVE_HELLO),
    ),
    case(
        "user becomes metadata.user_id",
        {"messages": HELLO, "user": "user-1234"},
        native(messages=NATIVE_HELLO, metadata={"user_id": "user-1234"}),
    ),
    case(
        "native top_k and thinking pass through extra_body",
        {
            "messages": HELLO,
            "max_completion_tokens": 8000,
            "extra_body": {"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 2048}},
        },
        native(
            messages=NATIVE_HELLO,
            max_tokens=8000,
            top_k=5,
            thinking={"type": "enabled", "budget_tokens": 2048},
        ),
    ),
    case(
        "reasoning_effort without a limit: the budget comes on top",
        {"messages": HELLO, "reasoning_effort": "low"},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4096 + 2048,
            thinking={"type": "enabled", "budget_tokens": 2048},
        ),
    ),
    case(
        "reasoning_effort within max_completion_tokens",
        {"messages": HELLO, "reasoning_effort": "high", "max_completion_tokens": 4000},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 3999},
        ),
    ),
    case(
        "tools and tool_choice auto",
        {"messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": "auto"},
        native(messages=NATIVE_HELLO, tools=[NATIVE_WEATHER_TOOL], tool_choice={"type": "auto"}),
    ),
    case(
        "tool_choice none",
        {"messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": "none"},
        native(messages=NATIVE_HELLO, tools=[NATIVE_WEATHER_TOOL], tool_choice={"type": "none"}),
    ),
    case(
        "tool_choice required is any",
        {"messages": HELLO, "tools": [WEATHER_TOOL], "tool_choice": "required"},
        native(messages=NATIVE_HELLO, tools=[NATIVE_WEATHER_TOOL], tool_choice={"type": "any"}),
    ),
    case(
        "named tool_choice, one call at a time",
        {
            "messages": HELLO,
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": False,
        },
        native(
            messages=NATIVE_HELLO,
            tools=[NATIVE_WEATHER_TOOL],
            tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
    ),
    case(
        "parallel_tool_calls false alone",
        {"messages": HELLO, "tools": [WEATHER_TOOL], "parallel_tool_calls": False},
        native(
            messages=NATIVE_HELLO,
            tools=[NATIVE_WEATHER_TOOL],
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        ),
    ),
    case(
        "response_format json_schema is a forced tool",
        {
            "messages": HELLO,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "weather_report", "schema": REPORT_SCHEMA, "strict": True},
            },
        },
        native(
            messages=NATIVE_HELLO,
            tools=[
                {
                    "name": "weather_report",
                    "input_schema": REPORT_SCHEMA,
                    "description": JSON_TOOL_DESCRIPTION,
                }
            ],
            tool_choice={
                "type": "tool",
                "name": "weather_report",
                "disable_parallel_tool_use": True,
            },
        ),
    ),
    case(
        "response_format json_schema next to tools: a tool call or the answer",
        {
            "messages": HELLO,
            "tools": [WEATHER_TOOL],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "weather_report",
                    "description": "The final report",
                    "schema": REPORT_SCHEMA,
                },
            },
        },
        native(
            messages=NATIVE_HELLO,
            tools=[
                NATIVE_WEATHER_TOOL,
                {
                    "name": "weather_report",
                    "input_schema": REPORT_SCHEMA,
                    "description": "The final report",
                },
            ],
            tool_choice={"type": "any"},
        ),
    ),
    case(
        "response_format json_object is a forced tool taking any object",
        {"messages": HELLO, "response_format": {"type": "json_object"}},
        native(
            messages=NATIVE_HELLO,
            tools=[
                {
                    "name": "json_object",
                    "input_schema": {"type": "object"},
                    "description": JSON_TOOL_DESCRIPTION,
                }
            ],
            tool_choice={"type": "tool", "name": "json_object", "disable_parallel_tool_use": True},
        ),
    ),
    case(
        "cache_control on a part, a message and a tool is passed on",
        {
            "messages": [
                {
                    "role": "system",
                    "content": "A long, stable system prompt.",
                    "cache_control": {"type": "ephemeral"},
                },
                user(
                    [
                        {
                            "type": "text",
                            "text": "A long document",
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        },
                        {"type": "text", "text": "Question?"},
                    ]
                ),
            ],
            "tools": [{**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        },
        native(
            system=[
                {
                    "type": "text",
                    "text": "A long, stable system prompt.",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            messages=[
                user(
                    [
                        {
                            "type": "text",
                            "text": "A long document",
                            "cache_control": {"type": "ephemeral", "ttl": "1h"},
                        },
                        {"type": "text", "text": "Question?"},
                    ]
                )
            ],
            tools=[{**NATIVE_WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}],
        ),
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), CASES)
def test_request_body(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    upstream.add(json_reply(message([text("ok")])))
    client.chat.completions.create(model="claude", **kwargs)
    assert upstream.last.path == "/v1/messages"
    assert upstream.body() == expected


def test_headers(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(message([text("ok")])))
    client.chat.completions.create(model="claude", messages=HELLO)
    headers = upstream.last.headers
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers
    assert "anthropic-beta" not in headers


def test_native_structured_output_and_options(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(message([text('{"summary":"mild","celsius":18}')])))
    client.chat.completions.create(
        model="claude-native",
        messages=HELLO,
        tools=[{**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather_report", "schema": REPORT_SCHEMA, "strict": True},
        },
    )
    assert upstream.body() == native(
        messages=NATIVE_HELLO,
        max_tokens=1024,  # this provider's default_max_tokens
        tools=[{**NATIVE_WEATHER_TOOL, "strict": True}],
        output_config={"format": {"type": "json_schema", "schema": REPORT_SCHEMA}},
    )
    assert upstream.last.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


def test_strict_tools_need_native_structured_output(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    upstream.add(json_reply(message([text("ok")])))
    strict_tool = {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}
    client.chat.completions.create(model="claude", messages=HELLO, tools=[strict_tool])
    assert upstream.body()["tools"] == [NATIVE_WEATHER_TOOL]


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
