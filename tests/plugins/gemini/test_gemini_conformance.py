"""plugbay-gemini keeps the adapter contract (plugbay.testing.ProviderConformance)."""

from __future__ import annotations

from typing import Any

import msgspec

import plugbay_gemini
from plugbay.testing import ProviderConformance, Reply, Scenario, ScriptedUpstream

STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _event(data: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(data) + b"\r\n\r\n"  # Gemini ends events with CRLF


class TestGeminiConformance(ProviderConformance):
    plugins = (plugbay_gemini,)

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        return {
            "type": "gemini",
            "base_url": upstream.url + "/v1beta",
            "api_key": self.upstream_api_key,
        }

    def _usage(self, scenario: Scenario) -> dict[str, int]:
        prompt, completion = scenario.prompt_tokens, scenario.completion_tokens
        return {
            "promptTokenCount": prompt,
            "candidatesTokenCount": completion,
            "totalTokenCount": prompt + completion,
        }

    def _candidate(self, parts: list[dict[str, Any]], finish: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if finish:
            candidate["finishReason"] = "STOP"
        return candidate

    def _calls(self, scenario: Scenario) -> list[dict[str, Any]]:
        return [
            {"functionCall": {"name": call.name, "args": call.arguments}}
            for call in scenario.tool_calls
        ]

    def answer(self, scenario: Scenario, *, tools: bool) -> Reply:
        parts = self._calls(scenario) if tools else [{"text": scenario.text}]
        return Reply.json(
            {
                "candidates": [self._candidate(parts, finish=True)],
                "usageMetadata": self._usage(scenario),
                "modelVersion": self.upstream_model,
            }
        )

    def stream(self, scenario: Scenario, *, tools: bool) -> Reply:
        if tools:
            pieces = [[call] for call in self._calls(scenario)] + [[]]
        else:
            words = scenario.text.split(" ")
            pieces = [[{"text": words[0]}], [{"text": " " + " ".join(words[1:3])}]]
            pieces.append([{"text": " " + " ".join(words[3:])}])
        events = []
        for index, parts in enumerate(pieces):
            last = index == len(pieces) - 1
            usage = {"promptTokenCount": scenario.prompt_tokens}
            if last:
                usage = self._usage(scenario)
            events.append(
                _event(
                    {
                        "candidates": [self._candidate(parts, finish=last)],
                        "usageMetadata": usage,
                        "modelVersion": self.upstream_model,
                    }
                )
            )
        return Reply.sse(events)

    def error(self, status: int, message: str, *, retry_after: int | None) -> Reply:
        error: dict[str, Any] = {"code": status, "message": message, "status": STATUSES[status]}
        if retry_after is not None:  # Gemini says it in the body, not in a header
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": f"{retry_after}s",
                }
            ]
        return Reply.json({"error": error}, status=status)
