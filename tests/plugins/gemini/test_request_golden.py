"""Golden table: OpenAI requests, sent with the openai SDK → the exact body Gemini receives."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from gemini_wire import (
    API_KEY,
    GENERATE,
    PUBLIC,
    STREAM,
    answer,
    gemini_config,
    gemini_json,
    gemini_sse,
)

import plugbay_gemini

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
WEATHER_DECLARATION = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
USER = {"role": "user", "content": "hi"}
USER_CONTENT = {"role": "user", "parts": [{"text": "hi"}]}

GOLDEN: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain",
        {"messages": [USER]},
        {"contents": [USER_CONTENT]},
    ),
    (
        "system-and-turns",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Who are you?"},
                {"role": "assistant", "content": "Un assistant."},
                {"role": "user", "content": [{"type": "text", "text": "Et alors ?"}]},
            ]
        },
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "Who are you?"}]},
                {"role": "model", "parts": [{"text": "Un assistant."}]},
                {"role": "user", "parts": [{"text": "Et alors ?"}]},
            ],
        },
    ),
    (
        "images-audio-files",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare these."},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {
                            "type": "image_url",
                            "image_url": {
                                "url": "https://example.com/a/cat.JPG?x=1",
                                "detail": "low",
                            },
                        },
                        {"type": "image_url", "image_url": {"url": "gs://bucket/photo.webp"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
                        {
                            "type": "input_audio",
                            "input_audio": {"data": "UklGRg==", "format": "wav"},
                        },
                        {
                            "type": "file",
                            "file": {
                                "filename": "a.pdf",
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                            },
                        },
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Compare these."},
                        {"inlineData": {"mimeType": "image/png", "data": PNG}},
                        {
                            "fileData": {
                                "fileUri": "https://example.com/a/cat.JPG?x=1",
                                "mimeType": "image/jpeg",
                            }
                        },
                        {
                            "fileData": {
                                "fileUri": "gs://bucket/photo.webp",
                                "mimeType": "image/webp",
                            }
                        },
                        {"fileData": {"fileUri": "https://example.com/render"}},
                        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
                    ],
                }
            ]
        },
    ),
    (
        "tools-auto-with-schema-trimmed",
        {
            "messages": [USER],
            "tool_choice": "auto",
            "tools": [
                WEATHER_TOOL,
                {"type": "function", "function": {"name": "now"}},
                {
                    "type": "function",
                    "function": {
                        "name": "book",
                        "strict": True,
                        "parameters": {
                            "$schema": "https://json-schema.org/draft/2020-12/schema",
                            "type": "object",
                            "additionalProperties": False,
                            "$defs": {
                                "Guest": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string", "minLength": 1}},
                                    "required": ["name"],
                                    "additionalProperties": False,
                                }
                            },
                            "properties": {
                                "guests": {"type": "array", "items": {"$ref": "#/$defs/Guest"}},
                                "when": {"type": "string", "format": "date-time"},
                                "site": {"type": "string", "format": "uri"},
                                "note": {"type": ["string", "null"], "description": "Optional."},
                                "room": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                                "kind": {"const": "hotel"},
                                "size": {"enum": ["S", "M", None]},
                            },
                            "required": ["guests", "when", "note", "room", "kind", "size"],
                        },
                    },
                },
            ],
        },
        {
            "contents": [USER_CONTENT],
            "tools": [
                {
                    "functionDeclarations": [
                        WEATHER_DECLARATION,
                        {"name": "now"},
                        {
                            "name": "book",
                            "parameters": {
                                "type": "object",
                                "properties": {
                                    "guests": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "name": {"type": "string", "minLength": 1}
                                            },
                                            "required": ["name"],
                                        },
                                    },
                                    "when": {"type": "string", "format": "date-time"},
                                    "site": {"type": "string"},
                                    "note": {
                                        "type": "string",
                                        "description": "Optional.",
                                        "nullable": True,
                                    },
                                    "room": {"type": "integer", "nullable": True},
                                    "kind": {"type": "string", "enum": ["hotel"]},
                                    "size": {
                                        "type": "string",
                                        "enum": ["S", "M"],
                                        "nullable": True,
                                    },
                                },
                                "required": ["guests", "when", "note", "room", "kind", "size"],
                            },
                        },
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        },
    ),
    (
        "tool-choice-required",
        {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "required"},
        {
            "contents": [USER_CONTENT],
            "tools": [{"functionDeclarations": [WEATHER_DECLARATION]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        },
    ),
    (
        "tool-choice-named",
        {
            "messages": [USER],
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "contents": [USER_CONTENT],
            "tools": [{"functionDeclarations": [WEATHER_DECLARATION]}],
            "toolConfig": {
                "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
            },
        },
    ),
    (
        "tool-choice-none",
        {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "none"},
        {
            "contents": [USER_CONTENT],
            "tools": [{"functionDeclarations": [WEATHER_DECLARATION]}],
            "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
        },
    ),
    (
        "tool-calls-and-results",
        {
            "tools": [WEATHER_TOOL],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {
                    "role": "assistant",
                    "content": "Checking both.",
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                            "extra_content": {"google": {"thought_signature": "c2lnLWE="}},
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_b", "content": '{"temp_c": -3}'},
                {"role": "tool", "tool_call_id": "call_a", "content": "18C and sunny"},
                {"role": "user", "content": "Thanks!"},
            ],
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Oslo?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "Checking both."},
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "c2lnLWE=",
                        },
                        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp_c": -3}}},
                        {
                            "functionResponse": {
                                "name": "get_weather",
                                "response": {"output": "18C and sunny"},
                            }
                        },
                    ],
                },
                {"role": "user", "parts": [{"text": "Thanks!"}]},
            ],
            "tools": [{"functionDeclarations": [WEATHER_DECLARATION]}],
        },
    ),
    (
        "replayed-tool-call-without-signature",
        {
            "messages": [
                {"role": "user", "content": "Time?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "t1",
                            "type": "function",
                            "function": {"name": "now", "arguments": ""},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "t1", "content": "[1, 2]"},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Time?"}]},
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "now"},
                            "thoughtSignature": "skip_thought_signature_validator",
                        }
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "now", "response": {"output": "[1, 2]"}}}
                    ],
                },
            ]
        },
    ),
    (
        "generation-config",
        {
            "messages": [USER],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 256,
            "max_tokens": 999,
            "stop": ["END", "STOP"],
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": -0.5,
            "n": 2,
            "reasoning_effort": "low",
            "user": "someone",
            "parallel_tool_calls": True,
        },
        {
            "contents": [USER_CONTENT],
            "generationConfig": {
                "stopSequences": ["END", "STOP"],
                "candidateCount": 2,
                "maxOutputTokens": 256,
                "temperature": 0.2,
                "topP": 0.9,
                "seed": 7,
                "presencePenalty": 0.5,
                "frequencyPenalty": -0.5,
                "thinkingConfig": {"thinkingBudget": 1024},
            },
        },
    ),
    (
        "legacy-max-tokens-and-stop-string",
        {"messages": [USER], "max_tokens": 5, "stop": "\n", "n": 1, "reasoning_effort": "none"},
        {
            "contents": [USER_CONTENT],
            "generationConfig": {
                "stopSequences": ["\n"],
                "maxOutputTokens": 5,
                "thinkingConfig": {"thinkingBudget": 0},
            },
        },
    ),
    (
        "response-format-json-schema",
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "person",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "age": {"type": "integer", "minimum": 0},
                        },
                        "required": ["name", "age"],
                        "additionalProperties": False,
                    },
                },
            },
        },
        {
            "contents": [USER_CONTENT],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "age": {"type": "integer", "minimum": 0},
                    },
                    "required": ["name", "age"],
                },
            },
        },
    ),
    (
        "response-format-json-object",
        {"messages": [USER], "response_format": {"type": "json_object"}},
        {"contents": [USER_CONTENT], "generationConfig": {"responseMimeType": "application/json"}},
    ),
    (
        "response-format-text",
        {"messages": [USER], "response_format": {"type": "text"}},
        {"contents": [USER_CONTENT]},
    ),
]


@pytest.mark.parametrize(
    ("request_", "native"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_request_golden(gemini: Any, request_: dict[str, Any], native: dict[str, Any]) -> None:
    gemini.upstream.script(gemini_json(answer([{"text": "ok"}])), path=GENERATE)
    gemini.client.chat.completions.create(model=PUBLIC, **request_)
    sent = gemini.upstream.wait_for(1)[0]
    assert sent.path == GENERATE
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == native


@pytest.mark.parametrize(
    ("request_", "native"), [g[1:] for g in GOLDEN], ids=[g[0] for g in GOLDEN]
)
def test_stream_request_golden(
    gemini: Any, request_: dict[str, Any], native: dict[str, Any]
) -> None:
    """Streaming sends the same body, to ``streamGenerateContent?alt=sse``."""
    gemini.upstream.script(gemini_sse([answer([{"text": "ok"}])]), path=STREAM)
    for _ in gemini.client.chat.completions.create(model=PUBLIC, stream=True, **request_):
        pass
    sent = gemini.upstream.wait_for(1)[0]
    assert sent.path == STREAM
    assert sent.query == {"alt": "sse"}
    assert sent.json() == native


def test_safety_settings_option(make_gateway: Any, scripted_upstream: Any) -> None:
    settings = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    config = gemini_config(
        scripted_upstream.url, safety_settings=settings, thought_signature_fallback=""
    )
    gateway = make_gateway(config, plugins=[plugbay_gemini])
    scripted_upstream.script(gemini_json(answer([{"text": "ok"}])), path=GENERATE)
    gateway.openai().chat.completions.create(
        model=PUBLIC,
        messages=[
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "x", "content": "{}"},
        ],
    )
    assert scripted_upstream.wait_for(1)[0].json() == {
        "contents": [
            {"role": "model", "parts": [{"functionCall": {"name": "f"}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        ],
        "safetySettings": settings,
    }


INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown-part",
        {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {}}]}]},
        "messages[0].content[0].type",
    ),
    (
        "bad-image-url",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
    ),
    (
        "bad-base64",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].image_url.url",
    ),
    (
        "orphan-tool-result",
        {"messages": [USER, {"role": "tool", "tool_call_id": "nope", "content": "1"}]},
        "messages[1].tool_call_id",
    ),
    (
        "arguments-not-json",
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{"}}
                    ],
                }
            ]
        },
        "messages[0].tool_calls[0].function.arguments",
    ),
    (
        "arguments-not-object",
        {
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "[1]"},
                        }
                    ],
                }
            ]
        },
        "messages[0].tool_calls[0].function.arguments",
    ),
    ("logprobs", {"messages": [USER], "logprobs": True}, "logprobs"),
    ("reasoning-effort", {"messages": [USER], "reasoning_effort": "extreme"}, "reasoning_effort"),
    (
        "tool-choice",
        {"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": "any"},
        "tool_choice",
    ),
    (
        "tool-type",
        {"messages": [USER], "tools": [{"type": "custom", "function": {"name": "x"}}]},
        "tools[0].type",
    ),
    (
        "response-format",
        {"messages": [USER], "response_format": {"type": "yaml"}},
        "response_format.type",
    ),
    ("role", {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ("user-without-content", {"messages": [{"role": "user"}]}, "messages[0].content"),
    (
        "image-in-system",
        {
            "messages": [
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}
            ]
        },
        "messages[0].content[0].type",
    ),
]


@pytest.mark.parametrize(
    ("request_", "param"), [i[1:] for i in INVALID], ids=[i[0] for i in INVALID]
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_untranslatable_requests_are_refused(
    gemini: Any, request_: dict[str, Any], param: str, stream: bool
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, stream=stream, **request_)
    assert caught.value.status_code == 400
    assert caught.value.param == param
    assert gemini.upstream.requests == []
