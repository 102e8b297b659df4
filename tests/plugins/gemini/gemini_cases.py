"""Golden answers: Gemini's whole answer and stream transcript for one reply, and the exact
OpenAI completion and chunk sequence each must become (``created`` aside).

Every scenario is the same reply both ways, so the openai SDK's stream accumulator must rebuild
exactly the message the whole answer gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gemini_wire import PUBLIC, answer, usage_metadata

# Synthesised ids: stable per (responseId, candidate, position).
CALL_0 = "call_02c0a55066460a55bec93d1e"  # resp-1, candidate 0, call 0
CALL_1 = "call_219dca13a6851469188d2d66"  # resp-1, candidate 0, call 1
CALL_C1 = "call_a20fc4873fca61a38774c371"  # resp-1, candidate 1, call 0
SIGNATURE = "CikBcsjafFK168IbtVtoxVV0Tsn8O+eU45rzJahzwuKGmMbdMdfpmNpgBwpl"

ROLE = {"role": "assistant", "content": "", "refusal": None}
ROLE_NULL = {"role": "assistant", "content": None, "refusal": None}


def call(name: str, args: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"functionCall": {"name": name, "args": args}, **extra}


def tool_call(
    call_id: str, name: str, arguments: str, signature: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    if signature:
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def openai_usage(
    prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def choice(
    content: str | None,
    finish: str,
    tool_calls: list[dict[str, Any]] | None = None,
    *,
    index: int = 0,
    reasoning: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": [],
    }
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": finish}


def completion(*choices: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion",
        "model": PUBLIC,
        "choices": list(choices),
        "usage": usage,
    }


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion.chunk",
        "model": PUBLIC,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }


def usage_chunk(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion.chunk",
        "model": PUBLIC,
        "choices": [],
        "usage": usage,
    }


def tool_delta(position: int, call: dict[str, Any], *, role: bool = False) -> dict[str, Any]:
    delta: dict[str, Any] = {"tool_calls": [{"index": position, **call}]}
    return {**ROLE_NULL, **delta} if role else delta


@dataclass
class Scenario:
    name: str
    whole: dict[str, Any]
    """The ``generateContent`` answer."""
    events: list[dict[str, Any]]
    """The ``streamGenerateContent?alt=sse`` transcript of the same reply."""
    completion: dict[str, Any]
    chunks: list[dict[str, Any]]
    """With ``stream_options.include_usage``."""
    n: int = 1


WEATHER_PARIS = tool_call(CALL_0, "get_weather", '{"city":"Paris"}', SIGNATURE)
WEATHER_OSLO = tool_call(CALL_1, "get_weather", '{"city":"Oslo","unit":"C"}')
PARALLEL_USAGE = usage_metadata(83, 14, thoughts=104)
SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
]

SCENARIOS = [
    Scenario(
        "text-with-usage",
        whole=answer([{"text": "The capital is Paris."}], usage=usage_metadata(8, 5)),
        events=[
            answer([{"text": "The"}], None, usage=usage_metadata(8, 1)),
            answer([{"text": " capital"}], None, usage=usage_metadata(8, 2)),
            answer([{"text": " is Paris."}], "STOP", usage=usage_metadata(8, 5)),
        ],
        completion=completion(choice("The capital is Paris.", "stop"), usage=openai_usage(8, 5)),
        chunks=[
            chunk(ROLE),
            chunk({"content": "The"}),
            chunk({"content": " capital"}),
            chunk({"content": " is Paris."}),
            chunk({}, "stop"),
            usage_chunk(openai_usage(8, 5)),
        ],
    ),
    Scenario(
        "parallel-tool-calls-in-one-event",
        whole=answer(
            [
                call("get_weather", {"city": "Paris"}, thoughtSignature=SIGNATURE),
                call("get_weather", {"city": "Oslo", "unit": "C"}),
            ],
            usage=PARALLEL_USAGE,
            extra={"finishMessage": "Model generated function call(s)."},
        ),
        events=[
            answer(
                [
                    call("get_weather", {"city": "Paris"}, thoughtSignature=SIGNATURE),
                    call("get_weather", {"city": "Oslo", "unit": "C"}),
                ],
                usage=PARALLEL_USAGE,
                extra={"finishMessage": "Model generated function call(s)."},
            )
        ],
        completion=completion(
            choice(None, "tool_calls", [WEATHER_PARIS, WEATHER_OSLO]),
            usage=openai_usage(83, 118, reasoning=104),
        ),
        chunks=[
            chunk(tool_delta(0, WEATHER_PARIS, role=True)),
            chunk(tool_delta(1, WEATHER_OSLO)),
            chunk({}, "tool_calls"),
            usage_chunk(openai_usage(83, 118, reasoning=104)),
        ],
    ),
    Scenario(
        "tool-calls-across-events",
        whole=answer(
            [
                call("get_weather", {"city": "Paris"}, thoughtSignature=SIGNATURE),
                call("get_weather", {"city": "Oslo", "unit": "C"}),
            ],
            usage=PARALLEL_USAGE,
        ),
        events=[
            answer(
                [call("get_weather", {"city": "Paris"}, thoughtSignature=SIGNATURE)],
                None,
                usage=usage_metadata(83, 7, thoughts=104),
            ),
            answer([call("get_weather", {"city": "Oslo", "unit": "C"})], usage=PARALLEL_USAGE),
        ],
        completion=completion(
            choice(None, "tool_calls", [WEATHER_PARIS, WEATHER_OSLO]),
            usage=openai_usage(83, 118, reasoning=104),
        ),
        chunks=[
            chunk(tool_delta(0, WEATHER_PARIS, role=True)),
            chunk(tool_delta(1, WEATHER_OSLO)),
            chunk({}, "tool_calls"),
            usage_chunk(openai_usage(83, 118, reasoning=104)),
        ],
    ),
    Scenario(
        "tool-call-after-text",
        whole=answer(
            [{"text": "Let me check the weather."}, call("get_weather", {"city": "Paris"})],
            usage=usage_metadata(20, 12),
        ),
        events=[
            answer([{"text": "Let me check"}], None, usage=usage_metadata(20, 3)),
            answer([{"text": " the weather."}], None, usage=usage_metadata(20, 6)),
            answer([call("get_weather", {"city": "Paris"})], usage=usage_metadata(20, 12)),
        ],
        completion=completion(
            choice(
                "Let me check the weather.",
                "tool_calls",
                [tool_call(CALL_0, "get_weather", '{"city":"Paris"}')],
            ),
            usage=openai_usage(20, 12),
        ),
        chunks=[
            chunk(ROLE),
            chunk({"content": "Let me check"}),
            chunk({"content": " the weather."}),
            chunk(tool_delta(0, tool_call(CALL_0, "get_weather", '{"city":"Paris"}'))),
            chunk({}, "tool_calls"),
            usage_chunk(openai_usage(20, 12)),
        ],
    ),
    Scenario(
        "text-after-tool-call-and-gemini-ids",
        whole=answer(
            [
                call("lookup", {}, functionCall={"name": "lookup", "id": "fc-7"}),
                {"text": "Done."},
            ],
            usage=usage_metadata(5, 4),
        ),
        events=[
            answer([{"functionCall": {"name": "lookup", "id": "fc-7"}}], None),
            answer([{"text": "Done."}], usage=usage_metadata(5, 4)),
        ],
        completion=completion(
            choice("Done.", "tool_calls", [tool_call("fc-7", "lookup", "{}")]),
            usage=openai_usage(5, 4),
        ),
        chunks=[
            chunk(tool_delta(0, tool_call("fc-7", "lookup", "{}"), role=True)),
            chunk({"content": "Done."}),
            chunk({}, "tool_calls"),
            usage_chunk(openai_usage(5, 4)),
        ],
    ),
    Scenario(
        "thoughts-become-reasoning-content",
        whole=answer(
            [{"text": "Six times seven.", "thought": True}, {"text": "42"}],
            usage=usage_metadata(6, 1, thoughts=30),
        ),
        events=[
            answer([{"text": "Six times seven.", "thought": True}], None),
            answer([{"text": "42"}], usage=usage_metadata(6, 1, thoughts=30)),
        ],
        completion=completion(
            choice("42", "stop", reasoning="Six times seven."),
            usage=openai_usage(6, 31, reasoning=30),
        ),
        chunks=[
            chunk(ROLE_NULL),
            chunk({"reasoning_content": "Six times seven."}),
            chunk({"content": "42"}),
            chunk({}, "stop"),
            usage_chunk(openai_usage(6, 31, reasoning=30)),
        ],
    ),
    Scenario(
        "empty-completion",
        whole=answer([], usage=usage_metadata(4, 0)),
        events=[answer(None, "STOP", usage=usage_metadata(4, 0))],
        completion=completion(choice("", "stop"), usage=openai_usage(4, 0)),
        chunks=[chunk(ROLE), chunk({}, "stop"), usage_chunk(openai_usage(4, 0))],
    ),
    Scenario(
        "max-tokens-with-cached-prompt",
        whole=answer(
            [{"text": "Once upon a"}], "MAX_TOKENS", usage=usage_metadata(1200, 3, cached=1024)
        ),
        events=[
            answer([{"text": "Once upon"}], None, usage=usage_metadata(1200, 2, cached=1024)),
            answer([{"text": " a"}], "MAX_TOKENS", usage=usage_metadata(1200, 3, cached=1024)),
        ],
        completion=completion(
            choice("Once upon a", "length"), usage=openai_usage(1200, 3, cached=1024)
        ),
        chunks=[
            chunk(ROLE),
            chunk({"content": "Once upon"}),
            chunk({"content": " a"}),
            chunk({}, "length"),
            usage_chunk(openai_usage(1200, 3, cached=1024)),
        ],
    ),
    Scenario(
        "safety-stop",
        whole=answer(
            [{"text": "Here is how"}],
            "SAFETY",
            usage=usage_metadata(10, 3),
            extra={"safetyRatings": SAFETY_RATINGS},
        ),
        events=[
            answer([{"text": "Here is how"}], None, usage=usage_metadata(10, 3)),
            answer(
                None, "SAFETY", usage=usage_metadata(10, 3), extra={"safetyRatings": SAFETY_RATINGS}
            ),
        ],
        completion=completion(choice("Here is how", "content_filter"), usage=openai_usage(10, 3)),
        chunks=[
            chunk(ROLE),
            chunk({"content": "Here is how"}),
            chunk({}, "content_filter"),
            usage_chunk(openai_usage(10, 3)),
        ],
    ),
    Scenario(
        "recitation-stop",
        whole=answer(None, "RECITATION", usage=usage_metadata(10, 0)),
        events=[answer(None, "RECITATION", usage=usage_metadata(10, 0))],
        completion=completion(choice("", "content_filter"), usage=openai_usage(10, 0)),
        chunks=[chunk(ROLE), chunk({}, "content_filter"), usage_chunk(openai_usage(10, 0))],
    ),
    Scenario(
        "blocklist-stop",
        whole=answer(None, "BLOCKLIST", usage=usage_metadata(10, 0)),
        events=[answer(None, "BLOCKLIST", usage=usage_metadata(10, 0))],
        completion=completion(choice("", "content_filter"), usage=openai_usage(10, 0)),
        chunks=[chunk(ROLE), chunk({}, "content_filter"), usage_chunk(openai_usage(10, 0))],
    ),
    Scenario(
        "prompt-blocked",
        whole={
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp-1",
        },
        events=[
            {
                "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
                "modelVersion": "gemini-2.5-flash",
                "responseId": "resp-1",
            }
        ],
        completion=completion(choice("", "content_filter"), usage=openai_usage(9, 0)),
        chunks=[chunk(ROLE), chunk({}, "content_filter"), usage_chunk(openai_usage(9, 0))],
    ),
    Scenario(
        "two-candidates",
        n=2,
        whole={
            "candidates": [
                {
                    "content": {"parts": [{"text": "A!"}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                },
                {
                    "content": {"parts": [{"text": "B"}, call("f", {"x": 1})], "role": "model"},
                    "finishReason": "STOP",
                    "index": 1,
                },
            ],
            "usageMetadata": usage_metadata(3, 6),
            "responseId": "resp-1",
        },
        events=[
            {
                "candidates": [
                    {"content": {"parts": [{"text": "A"}], "role": "model"}, "index": 0},
                    {"content": {"parts": [{"text": "B"}], "role": "model"}, "index": 1},
                ],
                "responseId": "resp-1",
            },
            {
                "candidates": [
                    {
                        "content": {"parts": [call("f", {"x": 1})], "role": "model"},
                        "finishReason": "STOP",
                        "index": 1,
                    },
                    {
                        "content": {"parts": [{"text": "!"}], "role": "model"},
                        "finishReason": "STOP",
                        "index": 0,
                    },
                ],
                "usageMetadata": usage_metadata(3, 6),
                "responseId": "resp-1",
            },
        ],
        completion=completion(
            choice("A!", "stop"),
            choice("B", "tool_calls", [tool_call(CALL_C1, "f", '{"x":1}')], index=1),
            usage=openai_usage(3, 6),
        ),
        chunks=[
            chunk(ROLE),
            chunk({"content": "A"}),
            chunk(ROLE, index=1),
            chunk({"content": "B"}, index=1),
            chunk(tool_delta(0, tool_call(CALL_C1, "f", '{"x":1}')), index=1),
            chunk({}, "tool_calls", index=1),
            chunk({"content": "!"}),
            chunk({}, "stop"),
            usage_chunk(openai_usage(3, 6)),
        ],
    ),
]
