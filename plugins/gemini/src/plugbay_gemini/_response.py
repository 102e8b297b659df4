"""Gemini ``GenerateContentResponse`` → OpenAI ``chat.completion``, and what streams share.

Finish reasons are mapped exactly: ``STOP`` is ``stop`` (``tool_calls`` when the candidate
called functions), ``MAX_TOKENS`` is ``length``, the safety family is ``content_filter``, and
every other reason (``MALFORMED_FUNCTION_CALL``, ``OTHER``, reasons added after this was
written...) is raised as an error: an answer Gemini failed to give is never a silent ``stop``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import msgspec

from plugbay import UpstreamError
from plugbay.schemas import CompletionTokensDetails, PromptTokensDetails, Usage
from plugbay_gemini._native import Candidate, FunctionCall, GenerateContentResponse, Part

__all__ = [
    "ToolCallIds",
    "completion",
    "completion_id",
    "finish_reason",
    "function_arguments",
    "tool_call",
    "usage",
]

_encode = msgspec.json.Encoder().encode

_FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
}


def finish_reason(candidate: Candidate, called_tools: bool) -> str:
    """OpenAI's finish reason for a finished candidate; raises for a failed one."""
    reason = candidate.finish_reason or "FINISH_REASON_UNSPECIFIED"
    mapped = _FINISH_REASONS.get(reason)
    if mapped is None:
        detail = f": {candidate.finish_message}" if candidate.finish_message else "."
        raise UpstreamError(
            f"Gemini could not complete the answer (finishReason {reason}){detail}",
            code=reason.lower(),
        )
    if mapped == "stop" and called_tools:
        return "tool_calls"
    return mapped


def usage(metadata: Any) -> Usage:
    """``usageMetadata`` → OpenAI usage: thoughts count as completion (reasoning) tokens."""
    if metadata is None:
        return Usage(
            prompt_tokens_details=PromptTokensDetails(cached_tokens=0),
            completion_tokens_details=CompletionTokensDetails(reasoning_tokens=0),
        )
    prompt = metadata.prompt_token_count + metadata.tool_use_prompt_token_count
    completion = metadata.candidates_token_count + metadata.thoughts_token_count
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=metadata.total_token_count or prompt + completion,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=metadata.cached_content_token_count
        ),
        completion_tokens_details=CompletionTokensDetails(
            reasoning_tokens=metadata.thoughts_token_count
        ),
    )


class ToolCallIds:
    """Tool call ids for one answer: Gemini's own when it sends one, else synthesised.

    Synthesised ids derive from the answer's ``responseId`` (random when there is none), the
    candidate and the call's position, so they are the same wherever the call is seen.
    """

    __slots__ = ("_seed",)

    def __init__(self, response_id: str | None) -> None:
        self._seed = response_id or secrets.token_hex(12)

    def get(self, call: FunctionCall, candidate: int, position: int) -> str:
        if call.id:
            return call.id
        digest = hashlib.sha256(f"{self._seed}:{candidate}:{position}".encode()).hexdigest()
        return "call_" + digest[:24]


def completion_id(response_id: str | None) -> str:
    return "chatcmpl-" + (response_id or secrets.token_hex(12))


def function_arguments(call: FunctionCall) -> str:
    return _encode(call.args).decode()


def tool_call(part: Part, call_id: str) -> dict[str, Any]:
    """The OpenAI tool call for a ``functionCall`` part; its thought signature rides along in
    ``extra_content.google``, where Google's own OpenAI dialect keeps it."""
    call = part.function_call
    assert call is not None
    out: dict[str, Any] = {
        "id": call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": function_arguments(call)},
    }
    if part.thought_signature:
        out["extra_content"] = {"google": {"thought_signature": part.thought_signature}}
    return out


def completion(answer: GenerateContentResponse, model: str) -> tuple[dict[str, Any], Usage]:
    """The ``chat.completion`` object and its usage for a whole answer."""
    ids = ToolCallIds(answer.response_id)
    choices = []
    if not answer.candidates:
        feedback = answer.prompt_feedback
        if feedback is None or not feedback.block_reason:
            raise UpstreamError("Gemini answered without any candidate.")
        # The prompt itself was blocked: an empty, filtered answer.
        choices.append(_choice(0, "", [], None, "content_filter"))
    for candidate in answer.candidates:
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in candidate.content.parts if candidate.content else ():
            if part.function_call is not None:
                call_id = ids.get(part.function_call, candidate.index, len(calls))
                calls.append(tool_call(part, call_id))
            elif part.text:
                (thoughts if part.thought else texts).append(part.text)
        reason = finish_reason(candidate, bool(calls))
        text = "".join(texts)
        reasoning = "".join(thoughts) or None
        choices.append(_choice(candidate.index, text, calls, reasoning, reason))
    tokens = usage(answer.usage_metadata)
    body = {
        "id": completion_id(answer.response_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": tokens.to_openai(),
    }
    return body, tokens


def _choice(
    index: int, text: str, calls: list[dict[str, Any]], reasoning: str | None, reason: str
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        # OpenAI's shape: null beside tool calls, "" for an empty answer.
        "content": text if text or not calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return {"index": index, "message": message, "logprobs": None, "finish_reason": reason}
