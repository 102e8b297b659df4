"""Errors are types; one function maps them to OpenAI's error body.

Every error a client can see is a :class:`PlugbayError`. Adapters and policy plugins raise
these (or subclasses); the core turns them into ``{"error": {message, type, param, code}}``
with the right status and headers in :func:`error_body`. Nothing else builds error bodies.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

__all__ = [
    "AuthenticationError",
    "Conflict",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlugbayError",
    "ProviderError",
    "RateLimited",
    "ServiceUnavailable",
    "UpstreamError",
    "UpstreamTimeout",
    "error_body",
]


class _ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorDetail


class PlugbayError(Exception):
    """An error with an HTTP status and an OpenAI error body.

    :param message: shown to the client; never put a secret in it.
    :param param: the request field at fault, as OpenAI names it (``messages[0].role``).
    :param code: a stable machine-readable code (``model_not_found``).
    :param headers: extra response headers (``Retry-After``...).
    """

    status_code: int = 500
    error_type: str = "server_error"
    default_code: str | None = None
    upstream_status: int | None = None
    """The upstream's HTTP status when this error is the upstream's answer (set by
    :func:`plugbay.wire.from_upstream` and the upstream client); the router retries by it."""
    retry_delay: float | None = None
    """Seconds the upstream asked to wait (``retry-after-ms`` or ``Retry-After``), if it did."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        status_code: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers) if headers else {}
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type

    def body(self) -> bytes:
        return error_body(self.message, self.error_type, self.param, self.code)


class InvalidRequest(PlugbayError):
    """400: a missing, ill-typed or malformed field."""

    status_code = 400
    error_type = "invalid_request_error"


class AuthenticationError(PlugbayError):
    """401: no credential, or one nobody accepts."""

    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(PlugbayError):
    """403: the credential is valid but may not do this."""

    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFound(PlugbayError):
    """404: an unknown resource."""

    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    """404: the public model name is not served here (or not to this key)."""

    default_code = "model_not_found"

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
        )


class Conflict(PlugbayError):
    """409: the name is taken, or the entry is managed elsewhere (the config file)."""

    status_code = 409
    error_type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(PlugbayError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(PlugbayError):
    """429, sent before any upstream call; ``retry_after`` in seconds becomes ``Retry-After``."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        merged = dict(headers) if headers else {}
        if retry_after is not None:
            merged.setdefault("retry-after", str(max(1, int(retry_after + 0.999))))
        super().__init__(message, code=code, headers=merged)
        self.retry_after = retry_after


class ServiceUnavailable(PlugbayError):
    status_code = 503
    error_type = "server_error"
    default_code = "service_unavailable"


class UpstreamError(PlugbayError):
    """502: the upstream failed (5xx, refused connection, broken stream)."""

    status_code = 502
    error_type = "upstream_error"
    default_code = "upstream_error"


class UpstreamTimeout(PlugbayError):
    """504: the upstream did not answer in time."""

    status_code = 504
    error_type = "upstream_error"
    default_code = "upstream_timeout"


class ProviderError(PlugbayError):
    """An error the upstream answered with, relayed with its own status, type and code.

    Adapters raise it for upstream 4xx answers the client should see as they are (a bad
    parameter, a context-length overflow); the core never retries it.
    """

    error_type = "invalid_request_error"


_ENCODER = msgspec.json.Encoder()


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> bytes:
    """The JSON bytes of an OpenAI error object."""
    return _ENCODER.encode(_ErrorEnvelope(_ErrorDetail(message, type, param, code)))
