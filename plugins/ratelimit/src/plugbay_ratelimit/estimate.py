"""The token estimate charged before a call: the prompt counted from the request, plus the
completion it may ask for (``max_completion_tokens``/``max_tokens`` times ``n``, else the
configured default).

No tokenizer ships offline for every model, and a real one would cost more than the rest of
the request path, so text counts as one token per 4 characters (OpenAI's rule of thumb) and
one per character when it is not ASCII (CJK runs at about one per character). Images count
765 tokens (a 1024x1024 image at high detail). The charge is corrected with the upstream's
real usage when the request ends.
"""

from __future__ import annotations

from typing import Any

import msgspec

from plugbay.types import ChatRequest, EmbeddingsRequest

__all__ = ["estimate_tokens"]

_encode = msgspec.json.Encoder().encode

IMAGE_TOKENS = 765
MESSAGE_OVERHEAD = 4


def _text(text: str) -> int:
    return (len(text) + 3) // 4 if text.isascii() else len(text)


def _content(content: str | list[dict[str, Any]] | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _text(content)
    tokens = 0
    for part in content:
        kind = part.get("type")
        if kind == "text":
            tokens += _text(str(part.get("text", "")))
        elif kind == "image_url":
            tokens += IMAGE_TOKENS
    return tokens


def estimate_tokens(request: ChatRequest | EmbeddingsRequest, default_max_tokens: int) -> int:
    if isinstance(request, EmbeddingsRequest):
        total = 0
        for item in request.params.inputs:
            total += _text(item) if isinstance(item, str) else len(item)
        return max(1, total)
    params = request.params
    prompt = 3
    for message in params.messages:
        prompt += MESSAGE_OVERHEAD + _content(message.content)
        for call in message.tool_calls or ():
            prompt += _text(call.function.name) + _text(call.function.arguments)
    tools = request.body.get("tools")
    if tools:
        prompt += (len(_encode(tools)) + 3) // 4
    completion = params.max_output_tokens
    if completion is None:
        completion = default_max_tokens
    return prompt + completion * (params.n or 1)
