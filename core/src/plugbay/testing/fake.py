"""A plugin with adapter type ``fake``: a provider that answers from memory.

For testing policies and plugins with nothing but core installed::

    gw = make_gateway({"providers": [{"name": "f", "type": "fake"}],
                       "models": [{"name": "m", "provider": "f"}]},
                      plugins=[plugbay.testing.fake, my_plugin])

It answers with the last user message (or the ``reply`` option), word by word when streaming,
with usage of 10 prompt tokens plus one completion token per word. Fields in the request body
steer it: ``x_delay`` (seconds before answering), ``x_chunk_delay`` (seconds between streamed
words), ``x_fail`` (answer 502), ``x_break`` (break the stream after one chunk);
``system_fingerprint`` names the process, so tests can tell workers apart.

The module holds no state: to see which requests reached the adapter, register a
:class:`FakeAdapter` instead of the module; each instance keeps its own :attr:`~FakeAdapter.calls`::

    adapter = FakeAdapter()
    gw = make_gateway(config, plugins=[adapter, my_plugin])
    ...
    assert adapter.calls == ["m"]
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    ProviderContext,
    UpstreamError,
    hookimpl,
)
from plugbay.schemas import Usage
from plugbay.wire import embeddings_answer, encode_event

if TYPE_CHECKING:
    from plugbay import AdapterRegister

__all__ = ["FakeAdapter", "FakeOptions", "FakeProvider"]

_encode = msgspec.json.Encoder().encode


class FakeOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reply: str | None = None
    """Answer with this instead of the last user message."""


def _usage(words: list[str]) -> Usage:
    return Usage(prompt_tokens=10, completion_tokens=len(words), total_tokens=10 + len(words))


class FakeProvider(BaseProvider):
    """``calls``, when given, gets the public model of every request that reaches it."""

    def __init__(self, ctx: ProviderContext, calls: list[str] | None = None) -> None:
        super().__init__(ctx)
        self.reply: str | None = ctx.options.reply
        self.calls = calls

    def _words(self, request: ChatRequest) -> list[str]:
        if self.reply is not None:
            return self.reply.split()
        last = request.params.messages[-1].content
        return last.split() if isinstance(last, str) else []

    async def _arrive(self, request: ChatRequest | EmbeddingsRequest) -> None:
        if self.calls is not None:
            self.calls.append(request.public_model)
        if request.body.get("x_fail"):
            raise UpstreamError("The upstream failed.")
        delay = request.body.get("x_delay")
        if delay:
            await asyncio.sleep(float(delay))

    async def chat(self, request: ChatRequest) -> ChatResponse:
        await self._arrive(request)
        words = self._words(request)
        usage = _usage(words)
        body = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.public_model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": " ".join(words)},
                }
            ],
            "usage": usage.to_openai(),
            "system_fingerprint": f"pid-{os.getpid()}",
        }
        return ChatResponse(_encode(body), usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        await self._arrive(request)
        return ChatStream.build(lambda stream: self._events(request, stream))

    async def _events(self, request: ChatRequest, stream: ChatStream) -> AsyncIterator[bytes]:
        words = self._words(request)
        base: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.public_model,
            "system_fingerprint": f"pid-{os.getpid()}",
        }
        if request.body.get("x_break"):
            yield encode_event({**base, "choices": [{"index": 0, "delta": {"content": "x"}}]})
            raise UpstreamError("The upstream stream broke.")
        pause = float(request.body.get("x_chunk_delay") or 0)
        for index, word in enumerate(words):
            delta: dict[str, Any] = {"content": " " + word if index else word}
            if index == 0:
                delta["role"] = "assistant"
            yield encode_event(
                {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            )
            if pause:
                await asyncio.sleep(pause)
        yield encode_event(
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        )
        stream.usage = usage = _usage(words)
        if request.client_wants_usage:
            yield encode_event({**base, "choices": [], "usage": usage.to_openai()})

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        await self._arrive(request)
        count = len(request.params.inputs)
        content, usage = embeddings_answer(
            [[0.5, 0.5]] * count, request.public_model, request.params.encoding_format, 4 * count
        )
        return EmbeddingsResponse(content, usage)


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    register.adapter("fake", FakeProvider, options=FakeOptions)


class FakeAdapter:
    """The ``fake`` adapter as a plugin object that records what reached it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        """The public model of every request that reached this adapter's providers, in order."""

    @hookimpl
    def plugbay_register_adapters(self, register: AdapterRegister) -> None:
        register.adapter("fake", partial(FakeProvider, calls=self.calls), options=FakeOptions)
