"""The one status-to-error ladder every adapter uses.

An adapter reads its vendor's error dialect into a status, a message and, when it has them,
a code, a type, a param and a retry delay, and hands them to :func:`from_upstream`, which
decides what the client sees:

- 429: :class:`~plugbay.RateLimited`, ``Retry-After`` kept: 429;
- 529 (overloaded): :class:`~plugbay.ServiceUnavailable` ``upstream_overloaded``: 503;
- 503: :class:`~plugbay.UpstreamError` ``upstream_unavailable``: 503;
- 401, 403: :class:`~plugbay.UpstreamError` ``upstream_auth_error``: 502;
- 402: :class:`~plugbay.UpstreamError` ``upstream_billing_error``: 502;
- 504: :class:`~plugbay.UpstreamTimeout`: 504;
- any other 5xx (and a 1xx-3xx where an error was expected): :class:`~plugbay.UpstreamError`:
  502;
- any other 4xx: :class:`~plugbay.ProviderError`, status, type, param, code and message
  relayed.

With ``unavailable=False`` (the OpenAI-compatible relay, :func:`upstream_error`) 503 and 529
are 502 like every other 5xx.

A refused credential is the provider's problem, not the client's (the client can do nothing
about it): 502, never the upstream's 401. Everything the openai SDK retries (429, 5xx) stays
retryable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from plugbay._errors import (
    PlugbayError,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)

__all__ = ["error_fields", "from_upstream", "upstream_error"]


def from_upstream(
    status: int,
    message: str | None,
    *,
    code: str | None = None,
    retry_after: str | float | None = None,
    error_type: str | None = None,
    param: str | None = None,
    upstream: str = "The upstream",
    unavailable: bool = True,
) -> PlugbayError:
    """The error to raise for an upstream's error answer (or error event) with ``status``.

    :param message: the upstream's own message, relayed for 4xx and appended for 5xx.
    :param code: the code to give a relayed 4xx (or a 429).
    :param retry_after: the upstream's ``Retry-After`` (a header value as it came, or
        seconds), kept on 429, 503 and 529.
    :param error_type: the OpenAI error type of a relayed 4xx (``invalid_request_error``).
    :param param: the request field at fault, for a relayed 4xx.
    :param upstream: how messages name the upstream (``"Gemini"``).
    :param unavailable: whether the vendor's 503 and 529 mean what its documentation says
        (unavailable, overloaded: 503, to be retried); ``False`` makes them 502 like every
        other 5xx, as the OpenAI-compatible relay answers (whatever sits between the
        gateway and a relayed upstream may answer 503).
    """
    error = _ladder(status, message, code, retry_after, error_type, param, upstream, unavailable)
    error.upstream_status = status
    if retry_after is not None and error.retry_delay is None:
        error.retry_delay = _seconds(retry_after)
    return error


def _seconds(retry_after: str | float) -> float | None:
    if isinstance(retry_after, str):
        from plugbay._router.retry import retry_after as parse

        return parse({"retry-after": retry_after})
    return max(0.0, float(retry_after))


def _ladder(
    status: int,
    message: str | None,
    code: str | None,
    retry_after: str | float | None,
    error_type: str | None,
    param: str | None,
    upstream: str,
    unavailable: bool,
) -> PlugbayError:
    headers = _retry_headers(retry_after)
    detail = f": {message}" if message else ""
    if status == 429:
        return RateLimited(
            message or f"{upstream} is rate limiting requests.",
            headers=headers,
            code=code or "rate_limit_exceeded",
        )
    if status == 529 and unavailable:
        return ServiceUnavailable(
            message or f"{upstream} is overloaded.", headers=headers, code="upstream_overloaded"
        )
    if status in (401, 403):
        return UpstreamError(
            f"{upstream} refused the provider's credentials ({status}).",
            code="upstream_auth_error",
        )
    if status == 402:
        return UpstreamError(
            f"{upstream} refused the request for billing reasons (402).",
            code="upstream_billing_error",
        )
    if status == 503 and unavailable:
        return UpstreamError(
            f"{upstream} is unavailable{detail}",
            status_code=503,
            code="upstream_unavailable",
            headers=headers,
        )
    if status == 504:
        return UpstreamTimeout(f"{upstream} timed out{detail}")
    if status >= 500 or status < 400:
        return UpstreamError(f"{upstream} failed with status {status}{detail}")
    return ProviderError(
        message or f"{upstream} refused the request with status {status}.",
        status_code=status,
        error_type=error_type or "invalid_request_error",
        param=param,
        code=code,
    )


def _retry_headers(retry_after: str | float | None) -> dict[str, str] | None:
    if retry_after is None or retry_after == "":
        return None
    if isinstance(retry_after, str):
        return {"retry-after": retry_after}
    return {"retry-after": str(max(1, int(retry_after + 0.999)))}


class _UpstreamErrorBody(msgspec.Struct):
    error: Any = None
    message: Any = None
    detail: Any = None


def error_fields(body: bytes) -> tuple[str | None, str | None, str | None, str | None]:
    """``(message, type, param, code)`` from an OpenAI-style error body, or from a body in
    another common dialect (``{"message": ...}``, ``{"detail": ...}``, plain text)."""
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
    """The error for an OpenAI-compatible upstream's non-2xx answer (the upstream client's
    default mapping): the body's fields, then :func:`from_upstream`."""
    message, type_, param, code = error_fields(body)
    error = from_upstream(
        status,
        message,
        code=code,
        retry_after=headers.get("retry-after"),
        error_type=type_,
        param=param,
        unavailable=False,
    )
    if "retry-after-ms" in headers:
        from plugbay._router.retry import retry_after

        error.retry_delay = retry_after(headers)
    return error
