"""plugbay-anthropic keeps the adapter contract (plugbay.testing.ProviderConformance)."""

from __future__ import annotations

from typing import Any

import msgspec

import plugbay_anthropic
from plugbay.testing import ProviderConformance, Reply, Scenario, ScriptedUpstream

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
}


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {msgspec.json.encode({'type': kind, **data}).decode()}\n\n"


class TestAnthropicConformance(ProviderConformance):
    plugins = (plugbay_anthropic,)

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        return {"type": "anthropic", "base_url": upstream.url, "api_key": self.upstream_api_key}

    def _content(self, scenario: Scenario, tools: bool) -> list[dict[str, Any]]:
        if not tools:
            return [{"type": "text", "text": scenario.text}]
        return [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in scenario.tool_calls
        ]

    def answer(self, scenario: Scenario, *, tools: bool) -> Reply:
        return Reply.json(
            {
                "id": "msg_conformance",
                "type": "message",
                "role": "assistant",
                "model": self.upstream_model,
                "content": self._content(scenario, tools),
                "stop_reason": "tool_use" if tools else "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": scenario.prompt_tokens,
                    "output_tokens": scenario.completion_tokens,
                },
            }
        )

    def stream(self, scenario: Scenario, *, tools: bool) -> Reply:
        message = {
            "id": "msg_conformance",
            "type": "message",
            "role": "assistant",
            "model": self.upstream_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": scenario.prompt_tokens, "output_tokens": 1},
        }
        events = [_event("message_start", {"message": message}), _event("ping", {})]
        if tools:
            for index, call in enumerate(scenario.tool_calls):
                block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
                events.append(
                    _event("content_block_start", {"index": index, "content_block": block})
                )
                arguments = msgspec.json.encode(call.arguments).decode()
                half = len(arguments) // 2
                for piece in (arguments[:half], arguments[half:]):
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    events.append(_event("content_block_delta", {"index": index, "delta": delta}))
                events.append(_event("content_block_stop", {"index": index}))
        else:
            block = {"type": "text", "text": ""}
            events.append(_event("content_block_start", {"index": 0, "content_block": block}))
            for i, word in enumerate(scenario.text.split(" ")):
                delta = {"type": "text_delta", "text": word if i == 0 else " " + word}
                events.append(_event("content_block_delta", {"index": 0, "delta": delta}))
            events.append(_event("content_block_stop", {"index": 0}))
        stop = {"stop_reason": "tool_use" if tools else "end_turn", "stop_sequence": None}
        usage = {"output_tokens": scenario.completion_tokens}
        events.append(_event("message_delta", {"delta": stop, "usage": usage}))
        events.append(_event("message_stop", {}))
        return Reply.sse(events)

    def error(self, status: int, message: str, *, retry_after: int | None) -> Reply:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else None
        body = {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}
        return Reply.json(body, status=status, headers=headers)
