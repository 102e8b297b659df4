"""Shared pieces of the golden request tests: OpenAI inputs and their Messages API forms."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from claude_gateway import Upstream
from claude_wire import json_reply, message, text

UPSTREAM_MODEL = "claude-sonnet-4-5"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
WEATHER_TOOL: Any = {
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
HELLO: Any = [{"role": "user", "content": "Hello, Claude"}]
NATIVE_HELLO: Any = [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]
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


def check(
    client: openai.OpenAI, upstream: Upstream, kwargs: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Send ``kwargs`` with the openai SDK; the Messages API must receive ``expected``."""
    upstream.add(json_reply(message([text("ok")])))
    client.chat.completions.create(model="claude", **kwargs)
    assert upstream.last.path == "/v1/messages"
    assert upstream.body() == expected
