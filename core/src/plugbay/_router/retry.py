"""Which failed attempts are worth another, and how long to wait before one.

Retried: the upstream could not be reached or did not answer in time, or answered 408, 409,
429, 500, 502, 503, 504 or 529. Never: 400, 401, 403, 404, 422 and every other 4xx (the
client's request is at fault and would fail again), nor anything the gateway itself
refused before calling the upstream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from plugbay._errors import PlugbayError, UpstreamError, UpstreamTimeout

__all__ = ["RETRYABLE_STATUSES", "backoff", "is_context_error", "retry_after", "retryable"]

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_NOT_RETRIED_CODES = frozenset({"upstream_auth_error", "upstream_billing_error"})
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_WORDS = (
    "context length",
    "context window",
    "maximum context",
    "too many tokens",
    "prompt is too long",
    "input is too long",
    "exceeds the maximum",
)


def retryable(error: PlugbayError) -> bool:
    """Whether another attempt (here or at another deployment) may succeed."""
    status = error.upstream_status
    if status is not None:
        return status in RETRYABLE_STATUSES
    if error.code in _NOT_RETRIED_CODES:
        return False
    # No upstream status: the gateway's own errors for a connection that failed, timed out
    # or broke (502/504); a refusal of the gateway's own (a 4xx) is the client's answer.
    return isinstance(error, (UpstreamError, UpstreamTimeout)) and error.status_code >= 500


def is_context_error(error: PlugbayError) -> bool:
    """Whether the upstream refused the prompt as too long for the model's context."""
    if error.status_code not in (400, 413, 422):
        return False
    if error.code in _CONTEXT_CODES:
        return True
    message = error.message.lower()
    return any(words in message for words in _CONTEXT_WORDS)


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the upstream asked to wait: ``retry-after-ms``, else ``Retry-After``
    (seconds or an HTTP date); ``None`` when it asked nothing (or nonsense)."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            milliseconds = float(value)
        except ValueError:
            milliseconds = -1.0
        if 0 <= milliseconds < 86_400_000:
            return milliseconds / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when - (time.time() if now is None else now)
    if seconds != seconds or seconds < 0:  # NaN, or a date in the past
        return 0.0 if seconds < 0 else None
    return min(seconds, 86_400.0)


def backoff(failures: int, base: float, cap: float) -> float:
    """Full-jitter exponential backoff before the attempt after ``failures`` failures at
    one deployment: uniform in ``[0, min(cap, base * 2**(failures - 1))]``."""
    if failures <= 0 or base <= 0:
        return 0.0
    return random.uniform(0, min(cap, base * 2 ** (failures - 1)))
