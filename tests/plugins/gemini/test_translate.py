"""Unit tests of the translation functions, below the HTTP layer."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from gemini_wire import answer, usage_metadata

from plugbay import ProviderError, RateLimited, UpstreamError
from plugbay.schemas import CompletionTokensDetails, PromptTokensDetails, Usage
from plugbay_gemini._errors import status_error
from plugbay_gemini._native import Status, decode_response
from plugbay_gemini._response import ToolCallIds, completion, finish_reason, usage
from plugbay_gemini._stream import GeminiEvents


def native(body: Any) -> Any:
    return decode_response(msgspec.json.encode(body))


def chunks(out: list[bytes]) -> list[Any]:
    events = b"".join(out).split(b"\n\n")
    assert events.pop() == b""
    return [json.loads(event.removeprefix(b"data: ")) for event in events]


@pytest.mark.parametrize(
    ("reason", "called", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("BLOCKLIST", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("SPII", False, "content_filter"),
        ("IMAGE_SAFETY", False, "content_filter"),
    ],
)
def test_finish_reasons(reason: str, called: bool, expected: str) -> None:
    candidate = native(answer(None, reason)).candidates[0]
    assert finish_reason(candidate, called) == expected


def test_missing_finish_reason_is_not_a_stop() -> None:
    candidate = native(answer(None, None)).candidates[0]
    with pytest.raises(UpstreamError) as caught:
        finish_reason(candidate, False)
    assert caught.value.code == "finish_reason_unspecified"


def test_usage_counts_thoughts_tool_prompts_and_cache() -> None:
    meta = native(
        {
            "usageMetadata": {
                "promptTokenCount": 100,
                "toolUsePromptTokenCount": 20,
                "candidatesTokenCount": 7,
                "thoughtsTokenCount": 50,
                "cachedContentTokenCount": 64,
                "totalTokenCount": 177,
            }
        }
    ).usage_metadata
    assert usage(meta) == Usage(
        prompt_tokens=120,
        completion_tokens=57,
        total_tokens=177,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=64),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=50),
    )


def test_tool_call_ids() -> None:
    call = native(answer([{"functionCall": {"name": "f"}}])).candidates[0].content.parts[0]
    ids = ToolCallIds("r1")
    assert ids.get(call.function_call, 0, 0) == ToolCallIds("r1").get(call.function_call, 0, 0)
    assert len({ids.get(call.function_call, c, p) for c in (0, 1) for p in (0, 1)}) == 4
    assert ids.get(call.function_call, 0, 0) != ToolCallIds("r2").get(call.function_call, 0, 0)
    anonymous = ToolCallIds(None)
    first = anonymous.get(call.function_call, 0, 0)
    assert first == anonymous.get(call.function_call, 0, 0)  # stable within the answer
    assert first != ToolCallIds(None).get(call.function_call, 0, 0)  # unique across answers
    assert first.startswith("call_")
    assert len(first) == 29


def test_answer_without_response_id_gets_a_random_completion_id() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]}
    first, _ = completion(native(body), "m")
    second, _ = completion(native(body), "m")
    assert first["id"].startswith("chatcmpl-")
    assert first["id"] != second["id"]


class TestGeminiEvents:
    def test_text_before_a_failed_finish_is_kept(self) -> None:
        translator = GeminiEvents("m", wants_usage=False)
        out: list[bytes] = []
        event = native(answer([{"text": "partial"}], "MALFORMED_FUNCTION_CALL"))
        with pytest.raises(UpstreamError):
            translator.feed_event(event, out)
        assert [c["choices"][0]["delta"] for c in chunks(out)] == [
            {"role": "assistant", "content": "", "refusal": None},
            {"content": "partial"},
        ]

    def test_usage_is_known_before_the_end(self) -> None:
        translator = GeminiEvents("m", wants_usage=True)
        out: list[bytes] = []
        event = native(answer([{"text": "a"}], None, usage=usage_metadata(3, 1)))
        translator.feed_event(event, out)
        assert translator.usage is not None
        assert translator.usage.total_tokens == 4
        with pytest.raises(UpstreamError) as caught:
            translator.end(out)
        assert caught.value.code == "upstream_incomplete"

    def test_events_after_the_finish_are_ignored(self) -> None:
        translator = GeminiEvents("m", wants_usage=False)
        out: list[bytes] = []
        translator.feed_event(native(answer([{"text": "a"}], "STOP")), out)
        late = native(answer([{"text": "late"}], "STOP", usage=usage_metadata(1, 2)))
        translator.feed_event(late, out)
        translator.end(out)
        assert [c["choices"][0]["delta"].get("content") for c in chunks(out)] == ["", "a", None]
        assert translator.usage is not None
        assert translator.usage.completion_tokens == 2

    def test_only_thoughts_is_an_empty_answer(self) -> None:
        """Streamed or whole, an answer of thoughts alone has content ``""``, not null."""
        translator = GeminiEvents("m", wants_usage=False)
        out: list[bytes] = []
        translator.feed_event(native(answer([{"text": "hmm", "thought": True}], None)), out)
        translator.feed_event(native(answer(None, "STOP")), out)
        translator.end(out)
        assert [c["choices"][0]["delta"] for c in chunks(out)] == [
            {"role": "assistant", "content": None, "refusal": None},
            {"reasoning_content": "hmm"},
            {"content": ""},
            {},
        ]
        whole, _ = completion(native(answer([{"text": "hmm", "thought": True}])), "m")
        assert whole["choices"][0]["message"]["content"] == ""
        assert whole["choices"][0]["message"]["reasoning_content"] == "hmm"

    def test_error_event(self) -> None:
        translator = GeminiEvents("m", wants_usage=False)
        with pytest.raises(RateLimited):
            translator.feed_event(
                native({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}),
                [],
            )


@pytest.mark.parametrize(
    ("delay", "header"), [("53s", "53"), ("0.2s", "1"), ("26.481s", "27"), ("soon", None)]
)
def test_retry_info_becomes_retry_after(delay: str, header: str | None) -> None:
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
    error = status_error(
        Status(code=429, message="m", status="RESOURCE_EXHAUSTED", details=details)
    )
    assert isinstance(error, RateLimited)
    assert error.headers.get("retry-after") == header


def test_unknown_client_error_keeps_its_status() -> None:
    error = status_error(Status(code=409, message="conflict", status="ABORTED"))
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.code, error.message) == (409, "aborted", "conflict")
