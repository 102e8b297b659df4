"""plugbay-openai keeps the adapter contract (plugbay.testing.ProviderConformance)."""

from __future__ import annotations

from typing import Any

import msgspec

import plugbay_openai
from plugbay.testing import ProviderConformance, Reply, Scenario, ScriptedUpstream

CREATED = 1_700_000_000


def _usage(scenario: Scenario) -> dict[str, int]:
    prompt, completion = scenario.prompt_tokens, scenario.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _calls(scenario: Scenario) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": msgspec.json.encode(call.arguments).decode(),
            },
        }
        for call in scenario.tool_calls
    ]


class TestOpenAIConformance(ProviderConformance):
    plugins = (plugbay_openai,)
    # The OpenAI-compatible relay answers 502 for every upstream 5xx, 503 included: whatever
    # sits between the gateway and a relayed upstream may answer 503 (plugbay.wire.errors,
    # ``unavailable=False``). The vendor adapters' 503 is 503.
    error_contract = {**ProviderConformance.error_contract, 503: (502, "upstream_error")}

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        return {"type": "openai", "base_url": upstream.base_url, "api_key": self.upstream_api_key}

    def answer(self, scenario: Scenario, *, tools: bool) -> Reply:
        message: dict[str, Any] = {"role": "assistant", "content": scenario.text, "refusal": None}
        if tools:
            message = {**message, "content": None, "tool_calls": _calls(scenario)}
        return Reply.json(
            {
                "id": "chatcmpl-conformance",
                "object": "chat.completion",
                "created": CREATED,
                "model": self.upstream_model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls" if tools else "stop",
                    }
                ],
                "usage": _usage(scenario),
                "system_fingerprint": "fp_conformance",
            }
        )

    def stream(self, scenario: Scenario, *, tools: bool) -> Reply:
        # what OpenAI sends when asked for usage (the adapter always asks)
        base = {
            "id": "chatcmpl-conformance",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": self.upstream_model,
            "usage": None,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        events: list[Any] = [chunk({"role": "assistant", "content": "" if not tools else None})]
        if tools:
            for index, call in enumerate(_calls(scenario)):
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                opener = {
                    **call,
                    "index": index,
                    "function": {"name": call["function"]["name"], "arguments": ""},
                }
                events.append(chunk({"tool_calls": [opener]}))
                for piece in (arguments[:half], arguments[half:]):
                    events.append(
                        chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                    )
            events.append(chunk({}, "tool_calls"))
        else:
            words = scenario.text.split(" ")
            events += [chunk({"content": w if i == 0 else " " + w}) for i, w in enumerate(words)]
            events.append(chunk({}, "stop"))
        events.append({**base, "choices": [], "usage": _usage(scenario)})
        events.append(b"data: [DONE]\n\n")
        return Reply.sse(events)

    def error(self, status: int, message: str, *, retry_after: int | None) -> Reply:
        kind = {400: "invalid_request_error", 401: "invalid_request_error", 429: "requests"}
        headers = {"retry-after": str(retry_after)} if retry_after is not None else None
        return Reply.error(status, message, type=kind.get(status, "server_error"), headers=headers)
