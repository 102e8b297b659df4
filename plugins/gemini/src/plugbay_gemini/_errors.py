"""Gemini's errors (``{"error": {"code", "message", "status", "details"}}``) → plugbay errors.

- 429 ``RESOURCE_EXHAUSTED`` stays 429; Gemini sends no ``Retry-After`` header but a
  ``google.rpc.RetryInfo`` detail, which becomes one.
- 400 ``INVALID_ARGUMENT`` (and other 4xx) are relayed with their status and message; an
  input too long for the model gets OpenAI's ``context_length_exceeded``.
- a refused API key (400 ``API_KEY_INVALID``, 401, 403) is the provider's problem, not the
  client's: 502.
- 500 → 502, 503 → 503, 504 → 504; all retryable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from plugbay import (
    PlugbayError,
    ProviderError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
)
from plugbay_gemini._native import Status

__all__ = ["INVALID_RESPONSE", "response_error", "status_error"]

INVALID_RESPONSE = "upstream_invalid_response"
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


def status_error(
    status: Status, headers: Mapping[str, str] | None = None, *, status_code: int | None = None
) -> PlugbayError:
    """The error for a ``google.rpc.Status`` (an error body, or an error event mid-stream)."""
    code = status_code or status.code or 500
    message = status.message or f"Gemini answered with status {code}."
    grpc = status.status
    if code == 429 or grpc == "RESOURCE_EXHAUSTED":
        header = (headers or {}).get("retry-after")
        delay = None if header else _retry_after(status.details)
        return RateLimited(
            message,
            retry_after=math.ceil(delay) if delay is not None else None,
            headers={"retry-after": header} if header else None,
        )
    if (
        code in (401, 403)
        or grpc in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or "API_KEY_INVALID" in _reasons(status.details)
    ):
        return UpstreamError(
            f"Gemini refused the provider's credentials ({code} {grpc or 'error'}).",
            code="upstream_auth_error",
        )
    if code == 503 or grpc == "UNAVAILABLE":
        return UpstreamError(
            f"Gemini is unavailable: {message}", status_code=503, code="upstream_unavailable"
        )
    if code == 504 or grpc == "DEADLINE_EXCEEDED":
        return UpstreamTimeout(f"Gemini did not answer in time: {message}")
    if code >= 500 or code < 400:
        return UpstreamError(f"Gemini failed with status {code}: {message}")
    if code == 400 and _CONTEXT_LENGTH.search(message):
        return ProviderError(
            message, status_code=400, param="messages", code="context_length_exceeded"
        )
    return ProviderError(
        message,
        status_code=code,
        error_type="invalid_request_error",
        code=grpc.lower() if grpc else None,
    )
