"""The token estimate charged before a call: the prompt counted from the request, plus the
completion it may ask for (``max_completion_tokens``/``max_tokens`` times ``n``, else the
configured default).

No tokenizer ships offline for every model, and a real one would cost more than the rest of
the request path, so text counts as one token per 4 characters (OpenAI's rule of thumb) and
one per character when it is not ASCII (CJK runs at about one per character). Images count
765 tokens (a 1024x1024 image at high detail). The charge is corrected with the upstream's
real usage when the request ends.

Budgets need the most a prompt can be instead (:func:`prompt_bound`): byte-level BPE
tokenizers (OpenAI's, Anthropic's, Llama's) and SentencePiece with byte fallback (Gemini's)
never make more tokens than the text has UTF-8 bytes, so text counts its bytes, plus
:data:`MESSAGE_OVERHEAD` per message. Images count :data:`IMAGE_TOKENS_BOUND` -- the one
part that is not a bound: a vendor may bill a very large image more.
"""

from __future__ import annotations

from typing import Any

import msgspec

from plugbay import ChatRequest, EmbeddingsRequest

__all__ = ["IMAGE_TOKENS_BOUND", "estimate_tokens", "prompt_bound"]

_encode = msgspec.json.Encoder().encode

IMAGE_TOKENS = 765
IMAGE_TOKENS_BOUND = 1600
"""Tokens a budget reserves per image: about the most Anthropic bills for one, more than GPT-4o
bills for any high-detail image (1445); some models bill a large image more."""
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


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _content_bound(content: str | list[dict[str, Any]] | None) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return _bytes(content)
    tokens = 0
    for part in content:
        kind = part.get("type")
        if kind == "text":
            tokens += _bytes(str(part.get("text", "")))
        elif kind == "image_url":
            tokens += IMAGE_TOKENS_BOUND
        else:  # audio, files...: their encoded bytes are more than their tokens
            tokens += len(_encode(part))
    return tokens


def prompt_bound(request: ChatRequest | EmbeddingsRequest) -> int:
    """The most prompt tokens ``request`` can count (see above)."""
    if isinstance(request, EmbeddingsRequest):
        total = 0
        for item in request.params.inputs:
            total += _bytes(item) if isinstance(item, str) else len(item)
        return max(1, total)
    params = request.params
    prompt = 3
    for message in params.messages:
        prompt += MESSAGE_OVERHEAD + _content_bound(message.content)
        if message.name:
            prompt += 1 + _bytes(message.name)
        for call in message.tool_calls or ():
            prompt += MESSAGE_OVERHEAD + _bytes(call.function.name)
            prompt += _bytes(call.function.arguments)
    body = request.body
    for field in ("tools", "functions", "response_format"):
        value = body.get(field)
        if value:  # vendors wrap these in a little text; their JSON's bytes leave ample room
            prompt += len(_encode(value))
    return prompt
