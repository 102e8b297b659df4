"""Whole answers: decoding them once, renaming the model, and the errors for answers that are
not what their status says."""

from __future__ import annotations

import base64
import struct
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

from plugbay._errors import UpstreamError
from plugbay.schemas import Usage

__all__ = [
    "INVALID",
    "embeddings_answer",
    "invalid_event",
    "json_answer",
    "replace_model",
    "too_large",
]

INVALID = "upstream_invalid_response"
"""The error code of an upstream answer that is not what its status says."""
_encode = msgspec.json.Encoder().encode
T = TypeVar("T")


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
        "usage": usage.to_openai(embeddings=True),
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
