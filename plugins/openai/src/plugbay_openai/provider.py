"""Relay to an OpenAI-compatible upstream: bytes in, bytes out, ``model`` renamed in place.

Nothing is re-encoded. Each answer and each stream event is still decoded once (msgspec,
into a Struct that skips what the gateway does not read), so a 200 that is not JSON, or a
stream event that is not, is an error rather than a success relayed.
"""

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
from plugbay.wire import SSEBuffer, event_data, invalid_event, json_answer, replace_model

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


class _Object(msgspec.Struct):
    """Any JSON object: what an answer must be when its members are not as expected."""


_decode_head = msgspec.json.Decoder(_Head).decode
_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_decode_object = msgspec.json.Decoder(_Object).decode


def _head(content: bytes) -> _Head:
    try:
        return _decode_head(content)
    except msgspec.ValidationError:  # a `usage` of another shape is relayed, not counted
        json_answer(content, _decode_object)
        return _Head()


def _chunk(data: bytes) -> _Chunk:
    try:
        return _decode_chunk(data)
    except msgspec.ValidationError:
        _decode_object(data)
        return _Chunk()


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
        answer = self._relay(response.content, request.public_model)
        answer.headers = rate_limit_headers(response)
        return answer

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        response = await self.http.post(self.options.embeddings_path, request.upstream_body())
        answer = self._relay(response.content, request.public_model)
        return EmbeddingsResponse(answer.content, answer.usage, rate_limit_headers(response))

    @staticmethod
    def _relay(content: bytes, public_model: str) -> ChatResponse:
        head = json_answer(content, _head)  # validated, then relayed as it came
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
        return ChatStream.build(
            lambda stream: self._events(response, request, stream),
            aclose=response.aclose,
            headers=rate_limit_headers(response),
        )

    async def _events(
        self, response: httpx.Response, request: ChatRequest, stream: ChatStream
    ) -> AsyncIterator[bytes]:
        """Whole events, relayed a network read at a time; only ``model`` is rewritten."""
        reader = _EventReader(request, stream)
        buffer = SSEBuffer(self.http.max_response_size)
        async for data in response.aiter_bytes():
            block = buffer.feed_block(data)
            if block:
                out = reader.read(block)
                if out:
                    yield out
                if reader.error is not None:
                    raise reader.error
                if reader.done:
                    return
        tail = buffer.flush()  # an event the upstream did not terminate
        if tail:
            out = reader.read(tail[0] + b"\n\n")
            if out:
                yield out
            if reader.error is not None:
                raise reader.error


def rate_limit_headers(response: httpx.Response) -> dict[str, str] | None:
    """The upstream's ``x-ratelimit-*`` headers, which OpenAI clients read (the core relays
    them unless a plugbay rate limiter set its own)."""
    found: dict[str, str] | None = None
    for name, value in response.headers.raw:
        if name[:12].lower() == b"x-ratelimit-":
            if found is None:
                found = {}
            found[name.decode("latin-1").lower()] = value.decode("latin-1")
    return found


class _EventReader:
    """Reads blocks of whole events: checks each once, notes usage, spots the end.

    What it returns is the block as it came (``model`` renamed in place), minus what is left
    out: the events from ``[DONE]`` or a bad event on, and a usage chunk the client did not
    ask for.
    """

    __slots__ = ("_renames", "done", "error", "public", "stream", "wants_usage")

    def __init__(self, request: ChatRequest, stream: ChatStream) -> None:
        self.public = request.public_model
        self.wants_usage = request.client_wants_usage
        self.stream = stream
        self._renames: tuple[bytes, bytes, bytes, bytes] | None = None
        self.done = False
        self.error: PlugbayError | None = None

    def read(self, block: bytes) -> bytes:
        if block.count(b"\n\n") == 1:  # one event: a live stream, token by token
            out = block if self._keep(block[:-2]) else b""
        else:
            events = block.split(b"\n\n")
            events.pop()  # after the last terminator
            kept: list[bytes] | None = None  # set once some event is left out
            for index, event in enumerate(events):
                keep = self._keep(event)
                if self.done or self.error is not None:
                    kept = events[:index] if kept is None else kept
                    break
                if not keep:
                    kept = events[:index] if kept is None else kept
                elif kept is not None:
                    kept.append(event)
            out = block if kept is None else b"".join(event + b"\n\n" for event in kept)
        renames = self._renames
        if renames is not None and out:
            out = out.replace(renames[0], renames[1]).replace(renames[2], renames[3])
        return out

    def _keep(self, event: bytes) -> bool:
        """Whether to send ``event`` on; notes the end, an error, the model and the usage."""
        if event.startswith(b"data: ") and b"\n" not in event:
            data: bytes | None = event[6:]
        else:
            data = event_data(event)
            if data is None:  # a comment: sent on, as OpenAI's SDK ignores them
                return True
        if data == b"[DONE]":
            self.done = True
            return False
        try:
            chunk = _chunk(data)
        except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError) as exc:
            self.error = invalid_event(exc)
            return False
        if chunk.error is not None:
            self.error = _stream_error(chunk.error)
            return False
        if self._renames is None and chunk.model:
            self._renames = _renames(chunk.model, self.public)
        if chunk.usage is not None:
            self.stream.usage = chunk.usage
            if not chunk.choices and not self.wants_usage:
                return False  # we asked for it; the client did not
        return True


def _renames(upstream: str, public: str) -> tuple[bytes, bytes, bytes, bytes] | None:
    """The replacements :func:`~plugbay.wire.replace_model` makes, computed once a stream."""
    if upstream == public:
        return None
    up, pub = msgspec.json.encode(upstream), msgspec.json.encode(public)
    return b'"model":' + up, b'"model":' + pub, b'"model": ' + up, b'"model": ' + pub


def _stream_error(error: Any) -> PlugbayError:
    if isinstance(error, dict):
        return UpstreamError(
            str(error.get("message") or "The upstream reported an error mid-stream."),
            error_type=str(error.get("type") or "upstream_error"),
            code=str(error["code"]) if error.get("code") is not None else "upstream_error",
        )
    return UpstreamError(f"The upstream reported an error mid-stream: {error}")
