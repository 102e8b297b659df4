"""An offline provider: echoes the last user message; embeddings from a hash of the text."""

from __future__ import annotations

import asyncio
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ProviderContext,
)
from plugbay.schemas import ChatMessage, Usage
from plugbay.wire import ChunkWriter, embeddings_answer

_encode = msgspec.json.Encoder().encode


class EchoOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    dimensions: int = 16
    """Embedding size when the request does not ask for one."""
    chunk_delay: float = 0.0
    """Seconds to wait between streamed words."""


def _text(message: ChatMessage) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def _count(text: str) -> int:
    return len(text.split())


class EchoProvider(BaseProvider):
    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.options: EchoOptions = ctx.options

    def _answer(self, request: ChatRequest) -> tuple[list[str], str, Usage, list[Any] | None]:
        params = request.params
        last_user = next((m for m in reversed(params.messages) if m.role == "user"), None)
        words = _text(last_user).split() if last_user is not None else []
        limit = params.max_output_tokens
        finish = "stop"
        if limit is not None and len(words) > limit:
            words, finish = words[:limit], "length"
        tool_calls = None
        forced = self._forced_tool(request)
        if forced is not None:
            tool_calls = [
                {
                    "id": "call_echo_0",
                    "type": "function",
                    "function": {
                        "name": forced,
                        "arguments": _encode({"text": " ".join(words)}).decode(),
                    },
                }
            ]
            words, finish = [], "tool_calls"
        prompt = sum(_count(_text(m)) for m in params.messages)
        completion = len(words)
        usage = Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        return words, finish, usage, tool_calls

    @staticmethod
    def _forced_tool(request: ChatRequest) -> str | None:
        params = request.params
        if not params.tools:
            return None
        choice = params.tool_choice
        if isinstance(choice, dict):
            function = choice.get("function")  # a plain dict: any shape can arrive here
            name = function.get("name") if isinstance(function, dict) else None
            return name if isinstance(name, str) and name else None
        if choice == "required":
            return params.tools[0].function.name
        return None

    @staticmethod
    def _id(request: ChatRequest) -> str:
        return "chatcmpl-echo-" + hashlib.sha256(request.raw).hexdigest()[:24]

    async def chat(self, request: ChatRequest) -> ChatResponse:
        words, finish, usage, tool_calls = self._answer(request)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool_calls else " ".join(words),
            "refusal": None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        body = {
            "id": self._id(request),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.public_model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage.to_openai(),
            "system_fingerprint": "fp_echo",
        }
        return ChatResponse(_encode(body), usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        return ChatStream.build(lambda stream: self._events(request, stream))

    async def _events(self, request: ChatRequest, stream: ChatStream) -> AsyncIterator[bytes]:
        words, finish, usage, tool_calls = self._answer(request)
        writer = ChunkWriter(
            request.public_model,
            id=self._id(request),
            wants_usage=request.client_wants_usage,
            extra={"system_fingerprint": "fp_echo"},
        )
        yield writer.role("")
        delay = self.options.chunk_delay
        for index, word in enumerate(words):
            if delay:
                await asyncio.sleep(delay)
            yield writer.content(word if index == 0 else " " + word)
        for index, call in enumerate(tool_calls or ()):
            yield writer.chunk({"tool_calls": [{"index": index, **call}]})
        yield writer.finish(finish)
        stream.usage = usage
        if request.client_wants_usage:
            yield writer.usage(usage)

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        params = request.params
        size = params.dimensions or self.options.dimensions
        vectors = []
        tokens = 0
        for item in params.inputs:
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += _count(text) if isinstance(item, str) else len(item)
            vectors.append(_vector(text, size))
        content, usage = embeddings_answer(
            vectors, request.public_model, params.encoding_format, tokens
        )
        return EmbeddingsResponse(content, usage)


def _vector(text: str, size: int) -> list[float]:
    """A unit vector that depends only on ``text``."""
    raw = b""
    counter = 0
    while len(raw) < size * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [v / 2**31 - 1.0 for v in struct.unpack(f"<{size}I", raw[: size * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]
