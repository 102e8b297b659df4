"""Helpers for adapters: SSE framing, the public model name, upstream error mapping, and
the errors for answers that are not what their status says."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from plugbay._errors import (
    PlugbayError,
    ProviderError,
    RateLimited,
    UpstreamError,
)
from plugbay._settings import DEFAULT_MAX_RESPONSE_SIZE
from plugbay.schemas import Usage

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DONE",
    "SSEBuffer",
    "UpstreamClient",
    "embeddings_answer",
    "encode_event",
    "event_data",
    "invalid_event",
    "json_answer",
    "replace_model",
    "too_large",
    "upstream_error",
]

if TYPE_CHECKING:
    from plugbay._http import UpstreamClient


def __getattr__(name: str) -> object:
    # The upstream client imports httpx and aiohttp: only for the adapters that build one.
    if name == "UpstreamClient":
        from plugbay._http import UpstreamClient

        return UpstreamClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DONE = b"data: [DONE]\n\n"
INVALID = "upstream_invalid_response"
"""The error code of an upstream answer that is not what its status says."""
_encode = msgspec.json.Encoder().encode
T = TypeVar("T")


def encode_event(payload: Any) -> bytes:
    """One SSE ``data:`` event holding ``payload`` as JSON."""
    return b"data: " + _encode(payload) + b"\n\n"


class SSEBuffer:
    """Splits a byte stream into whole SSE events, keeping an incomplete tail for later.

    Events come back without their blank-line terminator; ``\\r\\n`` line ends are
    normalised to ``\\n``. The tail is kept in pieces, joined once an event completes, so a
    long event costs its length, not its length squared; an incomplete event longer than
    ``limit`` bytes raises :func:`too_large` (an upstream that never ends an event is not
    buffered without bound).
    """

    __slots__ = ("_cr", "_limit", "_nl", "_parts", "_size")

    def __init__(self, limit: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        self._parts: list[bytes] = []  # the incomplete event, normalised
        self._size = 0
        self._nl = False  # whether the parts end with \n (the junction may end an event)
        self._cr = False  # a \r held back from the last read: it may pair with a \n
        self._limit = limit

    def feed(self, chunk: bytes) -> list[bytes]:
        block = self.feed_block(chunk)
        if not block:
            return []
        events = block.split(b"\n\n")
        events.pop()
        return events

    def feed_block(self, chunk: bytes) -> bytes:
        """The whole events ``chunk`` completes, as one block with their terminators.

        Cheaper than :meth:`feed` when the events are relayed rather than inspected.
        """
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):  # a read may end between \r and \n
            chunk = chunk[:-1]
            self._cr = True
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        cut = chunk.rfind(b"\n\n") + 2
        parts = self._parts
        if cut < 2:
            if parts and self._nl and chunk.startswith(b"\n"):
                cut = 1  # the event ended across the two reads
            else:
                if chunk:
                    parts.append(chunk)
                    self._size += len(chunk)
                    self._nl = chunk.endswith(b"\n")
                    if self._size > self._limit:
                        raise too_large(self._limit, "stream event")
                return b""
        if parts:
            parts.append(chunk[:cut])
            block = b"".join(parts)
            parts.clear()
        else:
            block = chunk[:cut] if cut < len(chunk) else chunk
        rest = chunk[cut:]
        self._size = len(rest)
        self._nl = rest.endswith(b"\n")
        if rest:
            parts.append(rest)
            if self._size > self._limit:
                raise too_large(self._limit, "stream event")
        return block

    def flush(self) -> list[bytes]:
        tail = b"".join(self._parts) + (b"\r" if self._cr else b"")
        self._parts.clear()
        self._size, self._nl, self._cr = 0, False, False
        tail = tail.strip()
        return [tail] if tail else []


def event_data(event: bytes) -> bytes | None:
    """The ``data`` of one SSE event (its ``data:`` lines joined), or ``None`` if it has none
    (a comment, a ``retry:``)."""
    if event.startswith(b"data: ") and b"\n" not in event:  # what every upstream sends
        return event[6:]
    lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[1:] if line.startswith(b" ") else line for line in lines)


def json_answer(content: bytes, decode: Callable[[bytes], T]) -> T:
    """``decode(content)`` for a 2xx answer, ``decode`` being a msgspec decoder's (of a Struct,
    so that only a JSON object passes); a body it refuses (cut short, not JSON, not an object)
    raises a 502 rather than being relayed as a success."""
    try:
        return decode(content)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError) as exc:
        raise UpstreamError(
            f"The upstream answered with a body that is not a valid JSON answer ({exc}).",
            code=INVALID,
        ) from None


def invalid_event(reason: object = None) -> UpstreamError:
    """The error for a stream event that could not be read (raised after the events before
    it were sent on)."""
    detail = f" ({reason})" if reason else ""
    return UpstreamError(
        f"The upstream sent a stream event that could not be read{detail}.", code=INVALID
    )


def too_large(limit: int, what: str = "answer") -> UpstreamError:
    """The error for an upstream answer (or one stream event) over ``limit`` bytes."""
    return UpstreamError(
        f"The upstream's {what} is larger than the limit of {limit} bytes "
        "(the provider's `max_response_size`).",
        code="upstream_response_too_large",
    )


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
