"""Golden requests, the parameters: sampling, limits, tools, tool_choice, response_format,
reasoning and the fields with no Messages API meaning."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest
from claude_gateway import Upstream
from claude_requests import (
    HELLO,
    JSON_TOOL_DESCRIPTION,
    NATIVE_HELLO,
    NATIVE_WEATHER_TOOL,
    REPORT_SCHEMA,
    WEATHER_TOOL,
    case,
    check,
    native,
    user,
)
from claude_wire import json_reply, message, text

STRICT_WEATHER_TOOL: Any = {
    **WEATHER_TOOL,
    "function": {**WEATHER_TOOL["function"], "strict": True},
}
CASES = [
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
    check(client, upstream, kwargs, expected)


def test_native_structured_output_and_options(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(message([text('{"summary":"mild","celsius":18}')])))
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "weather_report", "schema": REPORT_SCHEMA, "strict": True},
    }
    client.chat.completions.create(
        model="claude-native",
        messages=HELLO,
        tools=[STRICT_WEATHER_TOOL],
        response_format=response_format,
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
    client.chat.completions.create(model="claude", messages=HELLO, tools=[STRICT_WEATHER_TOOL])
    assert upstream.body()["tools"] == [NATIVE_WEATHER_TOOL]


def test_dropped_fields_are_logged(
    client: openai.OpenAI, upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="plugbay.provider.anthropic")
    check(
        client,
        upstream,
        {"messages": HELLO, "seed": 7, "logprobs": True, "extra_body": {"mystery": 1}},
        native(messages=NATIVE_HELLO),
    )
    notes = [r.getMessage() for r in caplog.records if r.name == "plugbay.provider.anthropic"]
    assert len(notes) == 1
    assert notes[0].endswith(
        "dropped fields without a Messages API equivalent: logprobs, mystery, seed"
    )
