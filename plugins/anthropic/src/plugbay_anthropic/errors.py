"""Anthropic (and Vertex AI) errors → plugbay errors, which the core sends in OpenAI's shape.

Anthropic answers ``{"type": "error", "error": {"type": ..., "message": ...}}`` with a
``request-id`` header; Vertex AI's own front end may answer Google's
``{"error": {"code": ..., "message": ..., "status": ...}}`` instead. Whatever the openai SDK
retries on (429, 5xx) stays retryable: 529 ``overloaded_error`` becomes 503. The mapping
itself is the toolkit's one ladder (:func:`plugbay.wire.errors.from_upstream`); this module
only reads the dialect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay.wire.errors import from_upstream

if TYPE_CHECKING:
    from plugbay import PlugbayError

__all__ = ["STATUS_BY_TYPE", "anthropic_error", "stream_error"]

log = logging.getLogger("plugbay.anthropic")

STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# OpenAI codes for the 4xx relayed to the client.
_CODES = {"not_found_error": "not_found", "request_too_large": "request_too_large"}


def _fields(body: bytes) -> tuple[str | None, str | None]:
    """``(message, type)`` of an error body, whichever dialect it is in."""
    try:
        parsed: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace").strip()
        return (text[:500] or None), None
    if isinstance(parsed, list) and parsed:  # Vertex AI sometimes wraps the error in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None, None
    message, kind = error.get("message"), error.get("type")
    return (
        message if isinstance(message, str) and message else None,
        kind if isinstance(kind, str) else None,
    )


def anthropic_error(status: int, body: bytes, headers: Mapping[str, str]) -> PlugbayError:
    """The error to raise for a non-2xx answer of the Messages API (or of Vertex AI)."""
    message, kind = _fields(body)
    request_id = headers.get("request-id")
    if request_id:
        log.info("Anthropic answered %s (%s), request-id %s", status, kind, request_id)
    return _error(status, kind, message, headers.get("retry-after"))


def stream_error(kind: str | None, message: str | None) -> PlugbayError:
    """The error to raise for an ``error`` event in the middle of a stream."""
    return _error(STATUS_BY_TYPE.get(kind or "", 500), kind, message, None)


def _error(
    status: int, kind: str | None, message: str | None, retry_after: str | None
) -> PlugbayError:
    if kind == "overloaded_error":
        status = 529
    return from_upstream(status, message, code=_CODES.get(kind or ""), retry_after=retry_after)
