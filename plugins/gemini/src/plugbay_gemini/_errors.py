"""Gemini's errors (``{"error": {"code", "message", "status", "details"}}``) → plugbay errors.

- 429 ``RESOURCE_EXHAUSTED`` stays 429; Gemini sends no ``Retry-After`` header but a
  ``google.rpc.RetryInfo`` detail, which becomes one.
- 400 ``INVALID_ARGUMENT`` (and other 4xx) are relayed with their status and message; an
  input too long for the model gets OpenAI's ``context_length_exceeded``.
- a refused API key (400 ``API_KEY_INVALID``, 401, 403) is the provider's problem, not the
  client's: 502.
- 500 → 502, 503 → 503, 504 → 504; all retryable.

This module reads the dialect (the gRPC status stands in for an HTTP status mid-stream); the
mapping is the toolkit's one ladder, :func:`plugbay.wire.errors.from_upstream`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from plugbay import PlugbayError
from plugbay.wire import INVALID
from plugbay.wire.errors import from_upstream
from plugbay_gemini._native import Status

__all__ = ["INVALID_RESPONSE", "response_error", "status_error"]

INVALID_RESPONSE = INVALID
"""The code of an answer or event that could not be read (the core's own, too)."""

_CONTEXT_LENGTH = re.compile(r"exceeds the maximum number of tokens", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)s\s*$")


def _parse_status(body: bytes) -> Status | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(data, list) and data:  # Vertex streams answer errors as a JSON array
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    try:
        return msgspec.convert(error, Status)
    except msgspec.ValidationError:
        return None


def response_error(status_code: int, body: bytes, headers: Mapping[str, str]) -> PlugbayError:
    """The error to raise for a non-2xx answer from Gemini."""
    status = _parse_status(body)
    if status is None:
        text = body.decode("utf-8", "replace").strip()[:500]
        status = Status(code=status_code, message=text)
    return status_error(status, headers, status_code=status_code)


def _retry_after(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match[1])
    return None


def _reasons(details: list[dict[str, Any]]) -> set[str]:
    return {str(d["reason"]) for d in details if isinstance(d.get("reason"), str)}


# gRPC statuses that decide the answer whatever the HTTP status (an error event has none).
_GRPC_STATUS = {
    "RESOURCE_EXHAUSTED": 429,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


def status_error(
    status: Status, headers: Mapping[str, str] | None = None, *, status_code: int | None = None
) -> PlugbayError:
    """The error for a ``google.rpc.Status`` (an error body, or an error event mid-stream)."""
    code = status_code or status.code or 500
    message = status.message or f"Gemini answered with status {code}."
    grpc = status.status
    if "API_KEY_INVALID" in _reasons(status.details):
        code = 401
    else:
        code = _GRPC_STATUS.get(grpc or "", code)
    retry_after: str | float | None = None
    if code == 429:
        retry_after = (headers or {}).get("retry-after")
        if not retry_after:
            delay = _retry_after(status.details)
            retry_after = math.ceil(delay) if delay is not None else None
    param = error_code = None
    if code == 400 and _CONTEXT_LENGTH.search(message):
        param, error_code = "messages", "context_length_exceeded"
    elif grpc:
        error_code = grpc.lower()
    return from_upstream(
        code,
        message,
        code=None if code == 429 else error_code,
        retry_after=retry_after,
        param=param,
        upstream="Gemini",
    )
