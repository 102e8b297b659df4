"""Answer cases: a request, Anthropic's answer to it, and the OpenAI answer a client must get.

The response goldens check the whole answers; the equivalence tests stream each answer
(:func:`claude_wire.transcript`) and check the openai SDK rebuilds the same message.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from claude_wire import message, text, thinking, tool_use, usage


class Case(NamedTuple):
    request: dict[str, Any]
    """Extra arguments of ``chat.completions.create`` (besides model and messages)."""
    answer: dict[str, Any]
    """Anthropic's Message."""
    message: dict[str, Any]
    """The OpenAI ``choices[0].message``."""
    finish_reason: str
    usage: dict[str, Any]
    """The OpenAI ``usage``."""


def openai_usage(prompt: int, completion: int, cached: int = 0, written: int = 0) -> dict[str, Any]:
    details: dict[str, Any] = {"cached_tokens": cached}
    if written:
        details["cache_write_tokens"] = written
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": details,
    }


def assistant(content: str | None, **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "refusal": None, **fields}


def call(id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    for name in ("get_weather", "get_time", "refresh")
]
REPORT_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather_report",
        "schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"}, "celsius": {"type": "number"}},
            "required": ["summary", "celsius"],
        },
    },
}
REFUSAL_DETAILS = {
    "type": "refusal",
    "category": "cyber",
    "explanation": "This request triggered restrictions on violative cyber content.",
}

CASES: dict[str, Case] = {
    "text": Case(
        {},
        message([text("Hello! How can I help you today?")]),
        assistant("Hello! How can I help you today?"),
        "stop",
        openai_usage(25, 15),
    ),
    "tool call after text": Case(
        {"tools": TOOLS},
        message(
            [
                text("I'll check the weather in San Francisco."),
                tool_use(
                    "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "get_weather",
                    {"city": "San Francisco, CA", "unit": "fahrenheit"},
                ),
            ],
            "tool_use",
            tokens=usage(472, 89),
        ),
        assistant(
            "I'll check the weather in San Francisco.",
            tool_calls=[
                call(
                    "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    "get_weather",
                    '{"city":"San Francisco, CA","unit":"fahrenheit"}',
                )
            ],
        ),
        "tool_calls",
        openai_usage(472, 89),
    ),
    "parallel tool calls": Case(
        {"tools": TOOLS},
        message(
            [
                tool_use("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris"}),
                tool_use("toolu_01B7rPZmqgjhmmGi5zd8cQEw", "get_time", {"city": "Rome"}),
                tool_use("toolu_01C3vQ9a1aGmTjHyF5dYkQ2x", "get_weather", {"city": "Rome"}),
            ],
            "tool_use",
        ),
        assistant(
            None,
            tool_calls=[
                call("toolu_01A09q90qw90lq917835lq9", "get_weather", '{"city":"Paris"}'),
                call("toolu_01B7rPZmqgjhmmGi5zd8cQEw", "get_time", '{"city":"Rome"}'),
                call("toolu_01C3vQ9a1aGmTjHyF5dYkQ2x", "get_weather", '{"city":"Rome"}'),
            ],
        ),
        "tool_calls",
        openai_usage(25, 15),
    ),
    "tool call without arguments": Case(
        {"tools": TOOLS},
        message(
            [
                text("I'll refresh the list."),
                tool_use("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "refresh", {}),
            ],
            "tool_use",
        ),
        assistant(
            "I'll refresh the list.",
            tool_calls=[call("toolu_01QE1WLsSVp5hy5Q3GmGTmjP", "refresh", "{}")],
        ),
        "tool_calls",
        openai_usage(25, 15),
    ),
    "thinking": Case(
        {"reasoning_effort": "low"},
        message(
            [thinking("The user wants 2+2. That is 4."), text("2 + 2 = 4.")],
            tokens=usage(40, 120),
        ),
        assistant("2 + 2 = 4.", reasoning_content="The user wants 2+2. That is 4."),
        "stop",
        openai_usage(40, 120),
    ),
    "thinking then tool call": Case(
        {"tools": TOOLS, "reasoning_effort": "medium"},
        message(
            [
                thinking("I should look the weather up."),
                tool_use("toolu_01ThinkThenCall0000000000", "get_weather", {"city": "Lima"}),
            ],
            "tool_use",
        ),
        assistant(
            None,
            reasoning_content="I should look the weather up.",
            tool_calls=[call("toolu_01ThinkThenCall0000000000", "get_weather", '{"city":"Lima"}')],
        ),
        "tool_calls",
        openai_usage(25, 15),
    ),
    "thinking only": Case(
        {"reasoning_effort": "minimal"},
        message([thinking("Nothing to add.")], tokens=usage(9, 30)),
        assistant("", reasoning_content="Nothing to add."),
        "stop",
        openai_usage(9, 30),
    ),
    "empty completion": Case(
        {},
        message([], tokens=usage(12, 1)),
        assistant(""),
        "stop",
        openai_usage(12, 1),
    ),
    "max tokens stop": Case(
        {"max_completion_tokens": 8},
        message([text("The history of Rome begins with")], "max_tokens", tokens=usage(14, 8)),
        assistant("The history of Rome begins with"),
        "length",
        openai_usage(14, 8),
    ),
    "safety stop": Case(
        {},
        message([], "refusal", tokens=usage(18, 5), stop_details=REFUSAL_DETAILS),
        assistant(""),
        "content_filter",
        openai_usage(18, 5),
    ),
    "stop sequence": Case(
        {"stop": ["4"]},
        {**message([text("1, 2, 3, ")], "stop_sequence"), "stop_sequence": "4"},
        assistant("1, 2, 3, "),
        "stop",
        openai_usage(25, 15),
    ),
    "context window exceeded": Case(
        {},
        message([text("Partial")], "model_context_window_exceeded"),
        assistant("Partial"),
        "length",
        openai_usage(25, 15),
    ),
    "prompt cache usage": Case(
        {},
        message([text("Cached!")], tokens=usage(10, 20, read=1800, written=200)),
        assistant("Cached!"),
        "stop",
        openai_usage(2010, 20, cached=1800, written=200),
    ),
    "json_schema answer": Case(
        {"response_format": REPORT_FORMAT},
        message(
            [
                tool_use(
                    "toolu_01D7FLrfh4GYq7yT1ULFeyMV",
                    "weather_report",
                    {"summary": "mild", "celsius": 18.5},
                )
            ],
            "tool_use",
        ),
        assistant('{"summary":"mild","celsius":18.5}'),
        "stop",
        openai_usage(25, 15),
    ),
    "json_schema answer or tool call": Case(
        {"response_format": REPORT_FORMAT, "tools": TOOLS},
        message(
            [tool_use("toolu_01WeatherCall000000000000", "get_weather", {"city": "Oslo"})],
            "tool_use",
        ),
        assistant(
            None,
            tool_calls=[call("toolu_01WeatherCall000000000000", "get_weather", '{"city":"Oslo"}')],
        ),
        "tool_calls",
        openai_usage(25, 15),
    ),
}
