"""Helpers for adapters: SSE framing, the public model name, upstream error mapping."""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from plugbay.errors import (
    PlugbayError,
    ProviderError,
    RateLimited,
    UpstreamError,
)
from plugbay.schemas import Usage

__all__ = [
    "DONE",
    "SSEBuffer",
    "embeddings_answer",
    "encode_event",
    "replace_model",
    "upstream_error",
]

DONE = b"data: [DONE]\n\n"
_encode = msgspec.json.Encoder().encode


def encode_event(payload: Any) -> bytes:
    """One SSE ``data:`` event holding ``payload`` as JSON."""
    return b"data: " + _encode(payload) + b"\n\n"


class SSEBuffer:
    """Splits a byte stream into whole SSE events, keeping an incomplete tail for later.

    Events come back without their blank-line terminator; ``\\r\\n`` line ends are
    normalised to ``\\n``.
    """

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._tail + chunk if self._tail else chunk
        if b"\r" in data:  # on the joined bytes: a read may end between \r and \n
            data = data.replace(b"\r\n", b"\n")
        events = data.split(b"\n\n")
        self._tail = events.pop()
        return events

    def feed_block(self, chunk: bytes) -> bytes:
        """The whole events ``chunk`` completes, as one block with their terminators.

        Cheaper than :meth:`feed` when the events are relayed rather than inspected.
        """
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        data = self._tail + chunk if self._tail else chunk
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self._tail = data
            return b""
        self._tail = data[cut + 2 :]
        return data[: cut + 2]

    def flush(self) -> list[bytes]:
        tail, self._tail = self._tail.strip(), b""
        return [tail] if tail else []


def embeddings_answer(
    vectors: Sequence[Sequence[float]], model: str, encoding_format: str | None, tokens: int
) -> tuple[bytes, Usage]:
    """OpenAI's embeddings answer for ``vectors``, and its usage.

    With ``encoding_format="base64"`` each vector is little-endian float32, base64-encoded,
    as OpenAI sends it.
    """
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = vector
        if encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    body = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return _encode(body), usage


def replace_model(data: bytes, upstream: str, public: str) -> bytes:
    """Put ``public`` where the upstream wrote ``"model":"<upstream>"``.

    A JSON string cannot contain an unescaped quote, so the pattern only ever matches a real
    ``model`` member; no decode or re-encode is needed.
    """
    if upstream == public:
        return data
    up, pub = _encode(upstream), _encode(public)
    return data.replace(b'"model":' + up, b'"model":' + pub).replace(
        b'"model": ' + up, b'"model": ' + pub
    )


class _UpstreamErrorBody(msgspec.Struct):
    error: Any = None
    message: Any = None
    detail: Any = None


def _error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, param, code) from an upstream error body, whatever its dialect."""
    try:
        parsed = msgspec.json.decode(body, type=_UpstreamErrorBody)
    except msgspec.MsgspecError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or None), None, None, None
    error = parsed.error
    if isinstance(error, dict):

        def field(key: str) -> str | None:
            value = error.get(key)
            return None if value is None else str(value)

        return field("message"), field("type"), field("param"), field("code")
    for value in (error, parsed.message, parsed.detail):
        if isinstance(value, str):
            return value, None, None, None
    return None, None, None, None


def upstream_error(status: int, body: bytes, headers: Mapping[str, str]) -> PlugbayError:
    """The error to raise for an upstream's non-2xx answer.

    429 stays 429 with its ``Retry-After``; 5xx becomes 502; 401/403 (the provider's own
    credentials were refused: the client can do nothing about it) become 502 too; other 4xx
    are relayed with their status and the upstream's message, type, param and code.
    """
    message, type_, param, code = _error_fields(body)
    if status == 429:
        retry = headers.get("retry-after")
        extra = {"retry-after": retry} if retry else None
        return RateLimited(
            message or "The upstream is rate limiting requests.",
            headers=extra,
            code=code or "rate_limit_exceeded",
        )
    if status in (401, 403):
        return UpstreamError(
            f"The upstream refused the provider's credentials ({status}).",
            code="upstream_auth_error",
        )
    if status >= 500 or status < 400:
        detail = f": {message}" if message else ""
        return UpstreamError(f"The upstream failed with status {status}{detail}")
    return ProviderError(
        message or f"The upstream refused the request with status {status}.",
        status_code=status,
        error_type=type_ or "invalid_request_error",
        param=param,
        code=code,
    )
