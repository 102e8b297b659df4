"""Anthropic (and Vertex AI) errors → plugbay errors, which the core sends in OpenAI's shape.

Anthropic answers ``{"type": "error", "error": {"type": ..., "message": ...}}`` with a
``request-id`` header; Vertex AI's own front end may answer Google's
``{"error": {"code": ..., "message": ..., "status": ...}}`` instead. Whatever the openai SDK
retries on (429, 5xx) stays retryable: 529 ``overloaded_error`` becomes 503.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from plugbay import (
    PlugbayError,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)

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
    retry = {"retry-after": retry_after} if retry_after else None
    if status == 429:
        return RateLimited(
            message or "The upstream is rate limiting requests.",
            headers=retry,
            code="rate_limit_exceeded",
        )
    if status == 529 or kind == "overloaded_error":
        return ServiceUnavailable(
            message or "The upstream is overloaded.", headers=retry, code="upstream_overloaded"
        )
    if status in (401, 403):
        return UpstreamError(
            f"The upstream refused the provider's credentials ({status}).",
            code="upstream_auth_error",
        )
    if status == 402:
        return UpstreamError(
            "The upstream refused the request for billing reasons (402).",
            code="upstream_billing_error",
        )
    detail = f": {message}" if message else ""
    if status == 504:
        return UpstreamTimeout(f"The upstream timed out{detail}")
    if status == 503:
        return ServiceUnavailable(f"The upstream is unavailable{detail}", headers=retry)
    if status >= 500 or status < 400:
        return UpstreamError(f"The upstream failed with status {status}{detail}")
    return ProviderError(
        message or f"The upstream refused the request with status {status}.",
        status_code=status,
        error_type="invalid_request_error",
        code=_CODES.get(kind or ""),
    )
