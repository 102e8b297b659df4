"""Messages API answer → OpenAI ``chat.completion``; finish reasons and usage, shared with
the stream translation.

Usage: Anthropic's ``input_tokens`` counts only the prompt tokens that were neither read
from nor written to the prompt cache; the prompt's size is the sum of ``input_tokens``,
``cache_read_input_tokens`` and ``cache_creation_input_tokens``. OpenAI's
``prompt_tokens`` is the whole prompt, cached part included, so::

    prompt_tokens  = input_tokens + cache_read_input_tokens + cache_creation_input_tokens
    prompt_tokens_details.cached_tokens      = cache_read_input_tokens
    prompt_tokens_details.cache_write_tokens = cache_creation_input_tokens (when > 0)
    completion_tokens = output_tokens (thinking included, as OpenAI counts reasoning)

``cache_write_tokens`` is OpenAI's own name for prompt tokens written to the cache; the
gateway's :class:`~plugbay.schemas.Usage` keeps the count as ``cache_creation_tokens``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay.schemas import PromptTokensDetails, Usage

if TYPE_CHECKING:
    from plugbay import ChatRequest
    from plugbay_anthropic import wire

__all__ = ["chat_completion", "finish_reason", "tool_arguments", "usage"]

log = logging.getLogger("plugbay.anthropic")

_encode = msgspec.json.Encoder().encode

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, has_tool_calls: bool) -> str:
    """OpenAI's ``finish_reason`` for Anthropic's ``stop_reason``.

    ``tool_use`` without a tool call left is the forced ``response_format`` tool: ``stop``.
    """
    if stop_reason == "tool_use" and not has_tool_calls:
        return "stop"
    reason = FINISH_REASONS.get(stop_reason or "")
    if reason is None:
        log.warning("unknown Anthropic stop_reason %r reported as `stop`", stop_reason)
        return "stop"
    return reason


def usage(native: wire.Usage) -> Usage:
    read = native.cache_read_input_tokens or 0
    written = native.cache_creation_input_tokens or 0
    prompt = (native.input_tokens or 0) + read + written
    completion = native.output_tokens or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=read, cache_creation_tokens=written or None
        ),
    )


def tool_arguments(value: msgspec.Raw) -> str:
    """A ``tool_use`` block's ``input`` as OpenAI's ``arguments`` string (compact JSON)."""
    if not value:
        return "{}"
    return msgspec.json.format(bytes(value), indent=-1).decode()


def chat_completion(
    answer: wire.Answer, request: ChatRequest, json_tool: str | None
) -> tuple[bytes, Usage]:
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in answer.content:
        kind = block.type
        if kind == "text":
            texts.append(block.text or "")
        elif kind == "thinking":
            reasoning.append(block.thinking or "")
        elif kind == "tool_use":
            arguments = tool_arguments(block.input)
            if json_tool is not None and block.name == json_tool:
                texts.append(arguments)
                continue
            calls.append(
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": arguments},
                }
            )
        # redacted thinking and server tool blocks have no OpenAI counterpart
    content = "".join(texts)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if calls and not content else content,
        "refusal": None,
    }
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = calls
    counted = usage(answer.usage)
    body = {
        "id": answer.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.public_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(answer.stop_reason, bool(calls)),
            }
        ],
        "usage": counted.to_openai(),
    }
    return _encode(body), counted
