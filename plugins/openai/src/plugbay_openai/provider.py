"""Relay to an OpenAI-compatible upstream: bytes in, bytes out, ``model`` renamed in place."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    PlugbayError,
    ProviderContext,
    UpstreamError,
)
from plugbay.schemas import Usage
from plugbay.wire import SSEBuffer, replace_model

DEFAULT_BASE_URL = "https://api.openai.com/v1"

log = logging.getLogger("plugbay.openai")


class OpenAIOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    organization: str | None = None
    """Sent as ``OpenAI-Organization``."""
    project: str | None = None
    """Sent as ``OpenAI-Project``."""
    stream_usage: bool = True
    """Ask the upstream for a stream's final usage chunk (``stream_options.include_usage``)."""
    chat_path: str = "/chat/completions"
    embeddings_path: str = "/embeddings"


class _Head(msgspec.Struct):
    """The two members of an answer the gateway reads; everything else is relayed unread."""

    model: str | None = None
    usage: Usage | None = None


class _Chunk(msgspec.Struct):
    model: str | None = None
    usage: Usage | None = None
    choices: list[msgspec.Raw] = []
    error: Any = None


_decode_head = msgspec.json.Decoder(_Head).decode
_decode_chunk = msgspec.json.Decoder(_Chunk).decode


def _head(content: bytes) -> _Head:
    try:
        return _decode_head(content)
    except msgspec.MsgspecError:
        return _Head()


class OpenAIProvider(BaseProvider):
    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        options: OpenAIOptions = ctx.options
        self.options = options
        headers = {"content-type": "application/json", "accept": "application/json"}
        if ctx.settings.api_key:
            headers["authorization"] = f"Bearer {ctx.settings.api_key}"
        if options.organization:
            headers["openai-organization"] = options.organization
        if options.project:
            headers["openai-project"] = options.project
        self.http = ctx.http(DEFAULT_BASE_URL, headers)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        response = await self.http.post(self.options.chat_path, request.upstream_body())
        return self._relay(response.content, request.public_model)

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        response = await self.http.post(self.options.embeddings_path, request.upstream_body())
        answer = self._relay(response.content, request.public_model)
        return EmbeddingsResponse(answer.content, answer.usage)

    @staticmethod
    def _relay(content: bytes, public_model: str) -> ChatResponse:
        head = _head(content)
        if head.model is not None:
            content = replace_model(content, head.model, public_model)
        return ChatResponse(content, head.usage)

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        changes: dict[str, Any] = {}
        if self.options.stream_usage:
            options = request.body.get("stream_options")
            changes["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        response = await self.http.post(
            self.options.chat_path, request.upstream_body(**changes), stream=True
        )
        stream = ChatStream(aclose=response.aclose)
        stream.events = self._events(response, request, stream)
        return stream

    async def _events(
        self, response: httpx.Response, request: ChatRequest, stream: ChatStream
    ) -> AsyncIterator[bytes]:
        """Whole events, relayed as they come; only ``model`` is rewritten, in place."""
        public = request.public_model
        wants_usage = request.client_wants_usage
        upstream_model: str | None = None
        buffer = SSEBuffer()
        try:
            async for data in response.aiter_bytes():
                block = buffer.feed_block(data)
                if not block:
                    continue
                if upstream_model is not None and not _notable(block):
                    yield replace_model(block, upstream_model, public)  # the common case
                    continue
                out: list[bytes] = []
                for event in block.split(b"\n\n")[:-1]:
                    if event.startswith((b"data: [DONE]", b"data:[DONE]")):
                        if out:
                            yield b"".join(out)
                        return
                    if (
                        upstream_model is None
                        or b'"usage":{' in event
                        or b'"usage": {' in event
                        or b'"error"' in event
                    ):
                        chunk = _parse(event)
                        if chunk is not None:
                            if chunk.error is not None:
                                raise _stream_error(chunk.error)
                            if upstream_model is None and chunk.model:
                                upstream_model = chunk.model
                            if chunk.usage is not None:
                                stream.usage = chunk.usage
                                if not chunk.choices and not wants_usage:
                                    continue  # we asked for it; the client did not
                    if upstream_model is not None and upstream_model != public:
                        event = replace_model(event, upstream_model, public)
                    out.append(event + b"\n\n")
                if out:
                    yield b"".join(out)
        except httpx.TimeoutException as exc:
            raise UpstreamError(
                "The upstream stopped sending before the answer was complete.",
                code="upstream_timeout",
            ) from exc
        except httpx.TransportError as exc:
            raise UpstreamError("The upstream connection broke mid-stream.") from exc
        for event in buffer.flush():
            yield event + b"\n\n"


def _notable(block: bytes) -> bool:
    """Whether some event in ``block`` needs a closer look: the end, usage, or an error."""
    return (
        b"[DONE]" in block or b'"usage":{' in block or b'"usage": {' in block or b'"error"' in block
    )


def _parse(event: bytes) -> _Chunk | None:
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            try:
                return _decode_chunk(line[5:])
            except msgspec.MsgspecError:
                return None
    return None


def _stream_error(error: Any) -> PlugbayError:
    if isinstance(error, dict):
        return UpstreamError(
            str(error.get("message") or "The upstream reported an error mid-stream."),
            error_type=str(error.get("type") or "upstream_error"),
            code=str(error["code"]) if error.get("code") is not None else "upstream_error",
        )
    return UpstreamError(f"The upstream reported an error mid-stream: {error}")
