"""Extended thinking turned on by ``reasoning_effort`` and the parameters Anthropic refuses
with it (its extended-thinking docs, "feature compatibility": no modified temperature or
top_k, top_p only from 0.95 to 1, no forced tool use). What is compatible is sent as it is;
what is not is a 400 naming the parameter, and nothing reaches the upstream."""

from __future__ import annotations

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
)
from claude_wire import json_reply, message, text

THINKING = {"type": "enabled", "budget_tokens": 2048}
REPORT_FORMAT = {"type": "json_schema", "json_schema": {"name": "report", "schema": REPORT_SCHEMA}}
LOW: Any = {"messages": HELLO, "reasoning_effort": "low"}

COMPATIBLE = [
    case(
        "temperature 1 and top_p 0.95 are sent",
        {**LOW, "temperature": 1, "top_p": 0.95},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4096 + 2048,
            temperature=1.0,
            top_p=0.95,
            thinking=THINKING,
        ),
    ),
    case(
        "temperature above 1 is sent as 1, as without thinking",
        {**LOW, "temperature": 1.5},
        native(messages=NATIVE_HELLO, max_tokens=4096 + 2048, temperature=1.0, thinking=THINKING),
    ),
    case(
        "tool_choice auto",
        {**LOW, "tools": [WEATHER_TOOL], "tool_choice": "auto"},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4096 + 2048,
            tools=[NATIVE_WEATHER_TOOL],
            tool_choice={"type": "auto"},
            thinking=THINKING,
        ),
    ),
    case(
        "tool_choice none",
        {**LOW, "tools": [WEATHER_TOOL], "tool_choice": "none"},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4096 + 2048,
            tools=[NATIVE_WEATHER_TOOL],
            tool_choice={"type": "none"},
            thinking=THINKING,
        ),
    ),
    case(
        "a small max_completion_tokens leaves thinking off: nothing conflicts",
        {**LOW, "max_completion_tokens": 500, "temperature": 0.2},
        native(messages=NATIVE_HELLO, max_tokens=500, temperature=0.2),
    ),
    case(
        "reasoning_effort none leaves thinking off",
        {"messages": HELLO, "reasoning_effort": "none", "temperature": 0.2, "top_p": 0.5},
        native(messages=NATIVE_HELLO, max_tokens=4096, temperature=0.2, top_p=0.5),
    ),
    case(
        "the client's own `thinking` is the client's business: sent as it is",
        {
            "messages": HELLO,
            "max_completion_tokens": 8000,
            "temperature": 0.3,
            "extra_body": {"thinking": THINKING},
        },
        native(messages=NATIVE_HELLO, max_tokens=8000, temperature=0.3, thinking=THINKING),
    ),
]


@pytest.mark.parametrize(("kwargs", "expected"), COMPATIBLE)
def test_compatible_parameters_are_sent(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    check(client, upstream, kwargs, expected)


def test_response_format_is_native_output_with_a_native_provider(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    """``structured_output = "native"`` needs no forced tool: thinking and JSON together."""
    upstream.add(json_reply(message([text("{}")])))
    client.chat.completions.create(model="claude-native", **LOW, response_format=REPORT_FORMAT)
    body = upstream.body()
    assert body["thinking"] == THINKING
    assert body["output_config"] == {"format": {"schema": REPORT_SCHEMA, "type": "json_schema"}}
    assert "tool_choice" not in body


REFUSED = [
    pytest.param({**LOW, "temperature": 0.2}, "temperature", id="temperature 0.2"),
    pytest.param({**LOW, "temperature": 0}, "temperature", id="temperature 0"),
    pytest.param({**LOW, "top_p": 0.9}, "top_p", id="top_p below 0.95"),
    pytest.param({**LOW, "extra_body": {"top_k": 5}}, "top_k", id="top_k"),
    pytest.param(
        {**LOW, "tools": [WEATHER_TOOL], "tool_choice": "required"},
        "tool_choice",
        id="tool_choice required",
    ),
    pytest.param(
        {
            **LOW,
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        "tool_choice",
        id="a named tool",
    ),
    pytest.param(
        {**LOW, "response_format": REPORT_FORMAT},
        "response_format",
        id="response_format as a forced tool",
    ),
    pytest.param(
        {**LOW, "response_format": {"type": "json_object"}},
        "response_format",
        id="json_object as a forced tool",
    ),
    pytest.param(
        {**LOW, "tools": [WEATHER_TOOL], "response_format": REPORT_FORMAT},
        "response_format",
        id="response_format beside tools: a tool or the JSON, forced",
    ),
    pytest.param(
        {**LOW, "response_format": REPORT_FORMAT, "stream": True},
        "response_format",
        id="streamed too",
    ),
]


@pytest.mark.parametrize(("kwargs", "param"), REFUSED)
def test_conflicts_are_a_400_naming_the_parameter(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", **kwargs)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"
    assert "reasoning_effort" in caught.value.message
    assert upstream.requests == []


def test_without_reasoning_effort_the_same_requests_are_sent(
    client: openai.OpenAI, upstream: Upstream
) -> None:
    """The refusals above are about thinking: the same parameters alone go through."""
    check(
        client,
        upstream,
        {"messages": HELLO, "temperature": 0.2, "top_p": 0.9, "response_format": REPORT_FORMAT},
        native(
            messages=NATIVE_HELLO,
            max_tokens=4096,
            temperature=0.2,
            top_p=0.9,
            tools=[
                {
                    "name": "report",
                    "input_schema": REPORT_SCHEMA,
                    "description": JSON_TOOL_DESCRIPTION,
                }
            ],
            tool_choice={"type": "tool", "name": "report", "disable_parallel_tool_use": True},
        ),
    )
