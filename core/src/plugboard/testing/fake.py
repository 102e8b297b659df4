"""A plugin with adapter type ``fake``: a provider that answers from memory.

For testing policies and plugins with nothing but core installed::

    gw = make_gateway({"providers": [{"name": "f", "type": "fake"}],
                       "models": [{"name": "m", "provider": "f"}]},
                      plugins=[plugboard.testing.fake, my_plugin])

It answers ``reply`` (option, default ``"ok"``) with fixed usage (``prompt_tokens`` 10,
``completion_tokens`` 5), streams it one character per chunk, and counts its calls in
``FakeProvider.calls``.
"""

from __future__ import annotations

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
    ProviderContext,
    hookimpl,
)
from plugboard.schemas import Usage
from plugboard.wire import encode_event

_encode = msgspec.json.Encoder().encode
USAGE = Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15)


class FakeOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reply: str = "ok"


class FakeProvider(BaseProvider):
    calls = 0

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.reply: str = ctx.options.reply

    async def chat(self, request: ChatRequest) -> ChatResponse:
        FakeProvider.calls += 1
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": request.public_model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": self.reply},
                }
            ],
            "usage": USAGE,
        }
        return ChatResponse(_encode(body), USAGE)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        FakeProvider.calls += 1
        stream = ChatStream()
        stream.events = self._events(request, stream)
        return stream

    async def _events(self, request: ChatRequest, stream: ChatStream) -> AsyncIterator[bytes]:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": request.public_model,
        }
        for index, char in enumerate(self.reply):
            delta: dict[str, Any] = {"content": char}
            if index == 0:
                delta["role"] = "assistant"
            yield encode_event(
                {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
        yield encode_event(
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        stream.usage = USAGE
        if request.client_wants_usage:
            yield encode_event({**base, "choices": [], "usage": USAGE})

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        FakeProvider.calls += 1
        data = [
            {"object": "embedding", "index": i, "embedding": [0.0, 1.0]}
            for i in range(len(request.params.inputs))
        ]
        usage = Usage(prompt_tokens=len(data), total_tokens=len(data))
        body = {"object": "list", "data": data, "model": request.public_model, "usage": usage}
        return EmbeddingsResponse(_encode(body), usage)


@hookimpl
def plugboard_register_adapters(register: Callable[..., None]) -> None:
    register("fake", FakeProvider, options=FakeOptions)
