"""A local model for the cache tests (plugboard-echo is not installed in their env).

Adapter type ``local``: answers with the last user message and usage of 10 prompt tokens
plus one per word; ``"x_delay": seconds`` in the body makes it wait first; the answer's
``system_fingerprint`` names the worker process; ``x_fail`` fails the call, ``x_break``
breaks the stream after one chunk. ``calls`` counts what reached it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from plugboard import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    UpstreamError,
    hookimpl,
)
from plugboard.schemas import Usage
from plugboard.wire import encode_event

_encode = msgspec.json.Encoder().encode
calls: list[str] = []


def _words(request: ChatRequest) -> list[str]:
    last = request.params.messages[-1].content
    return last.split() if isinstance(last, str) else []


class LocalProvider(BaseProvider):
    async def _wait(self, request: ChatRequest | EmbeddingsRequest) -> None:
        calls.append(request.public_model)
        if request.body.get("x_fail"):
            raise UpstreamError("The upstream failed.")
        delay = request.body.get("x_delay")
        if delay:
            await asyncio.sleep(float(delay))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        await self._wait(request)
        words = _words(request)
        usage = Usage(prompt_tokens=10, completion_tokens=len(words), total_tokens=10 + len(words))
        message = {"role": "assistant", "content": " ".join(words)}
        body = {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.public_model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
            "system_fingerprint": f"pid-{os.getpid()}",
        }
        return ChatResponse(_encode(body), usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        await self._wait(request)
        stream = ChatStream()
        stream.events = self._events(request, stream)
        return stream

    async def _events(self, request: ChatRequest, stream: ChatStream) -> AsyncIterator[bytes]:
        words = _words(request)
        base: dict[str, Any] = {
            "id": "chatcmpl-local",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.public_model,
        }
        if request.body.get("x_break"):
            yield encode_event({**base, "choices": [{"index": 0, "delta": {"content": "x"}}]})
            raise UpstreamError("The upstream stream broke.")
        for index, word in enumerate(words):
            delta = {"content": word if index == 0 else " " + word}
            yield encode_event({**base, "choices": [{"index": 0, "delta": delta}]})
            await asyncio.sleep(float(request.body.get("x_chunk_delay", 0)))
        finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
        yield encode_event({**base, "choices": [finish]})
        stream.usage = Usage(
            prompt_tokens=10, completion_tokens=len(words), total_tokens=10 + len(words)
        )

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        await self._wait(request)
        count = len(request.params.inputs)
        body = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.5, 0.5]} for i in range(count)
            ],
            "model": request.public_model,
            "usage": {"prompt_tokens": 4 * count, "total_tokens": 4 * count},
        }
        usage = Usage(prompt_tokens=4 * count, total_tokens=4 * count)
        return EmbeddingsResponse(_encode(body), usage)


@hookimpl
def plugboard_register_adapters(register: Callable[..., Any]) -> None:
    register("local", LocalProvider)
