"""The one status-to-error ladder (plugbay.wire.errors.from_upstream), its whole table."""

from __future__ import annotations

import pytest

from plugbay import (
    PlugbayError,
    ProviderError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
)
from plugbay.wire import from_upstream, upstream_error

# (upstream status, class raised, status the client sees, code, message)
LADDER: list[tuple[int, type[PlugbayError], int, str | None, str]] = [
    (400, ProviderError, 400, None, "bad field"),
    (404, ProviderError, 404, None, "bad field"),
    (409, ProviderError, 409, None, "bad field"),
    (413, ProviderError, 413, None, "bad field"),
    (422, ProviderError, 422, None, "bad field"),
    (429, RateLimited, 429, "rate_limit_exceeded", "bad field"),
    (401, UpstreamError, 502, "upstream_auth_error", "X refused the provider's credentials (401)."),
    (403, UpstreamError, 502, "upstream_auth_error", "X refused the provider's credentials (403)."),
    (
        402,
        UpstreamError,
        502,
        "upstream_billing_error",
        "X refused the request for billing reasons (402).",
    ),
    (500, UpstreamError, 502, "upstream_error", "X failed with status 500: bad field"),
    (502, UpstreamError, 502, "upstream_error", "X failed with status 502: bad field"),
    (503, UpstreamError, 503, "upstream_unavailable", "X is unavailable: bad field"),
    (504, UpstreamTimeout, 504, "upstream_timeout", "X timed out: bad field"),
    (529, ServiceUnavailable, 503, "upstream_overloaded", "bad field"),
    (599, UpstreamError, 502, "upstream_error", "X failed with status 599: bad field"),
    (302, UpstreamError, 502, "upstream_error", "X failed with status 302: bad field"),
]


@pytest.mark.parametrize(("status", "kind", "client_status", "code", "message"), LADDER)
def test_the_ladder(
    status: int, kind: type[PlugbayError], client_status: int, code: str | None, message: str
) -> None:
    error = from_upstream(status, "bad field", upstream="X")
    assert type(error) is kind
    assert (error.status_code, error.code, error.message) == (client_status, code, message)


def test_a_relayed_client_error_keeps_type_param_and_code() -> None:
    error = from_upstream(
        400, "too long", code="context_length_exceeded", error_type="invalid_request_error",
        param="messages",
    )  # fmt: skip
    assert isinstance(error, ProviderError)
    assert (error.status_code, error.error_type, error.param, error.code) == (
        400,
        "invalid_request_error",
        "messages",
        "context_length_exceeded",
    )


def test_messages_when_the_upstream_gave_none() -> None:
    assert from_upstream(429, None).message == "The upstream is rate limiting requests."
    assert from_upstream(529, None).message == "The upstream is overloaded."
    assert from_upstream(500, None).message == "The upstream failed with status 500"
    assert from_upstream(418, None).message == ("The upstream refused the request with status 418.")


@pytest.mark.parametrize(
    ("retry_after", "header"), [("17", "17"), (26.481, "27"), (0.2, "1"), (3, "3"), (None, None)]
)
@pytest.mark.parametrize("status", [429, 503, 529])
def test_retry_after_is_kept(status: int, retry_after: str | float | None, header: str) -> None:
    error = from_upstream(status, "slow down", retry_after=retry_after)
    assert error.headers.get("retry-after") == header


def test_no_retry_after_on_other_statuses() -> None:
    assert from_upstream(500, "x", retry_after="5").headers == {}


@pytest.mark.parametrize("status", [503, 529])
def test_a_relay_answers_every_5xx_with_502(status: int) -> None:
    error = from_upstream(status, "busy", unavailable=False)
    assert type(error) is UpstreamError
    assert (error.status_code, error.message) == (
        502,
        f"The upstream failed with status {status}: busy",
    )


def test_openai_compatible_bodies_go_through_the_ladder() -> None:
    body = b'{"error": {"message": "nope", "type": "t", "param": "p", "code": "c"}}'
    error = upstream_error(400, body, {})
    assert isinstance(error, ProviderError)
    assert (error.message, error.error_type, error.param, error.code) == ("nope", "t", "p", "c")
    limited = upstream_error(429, body, {"retry-after": "9"})
    assert isinstance(limited, RateLimited)
    assert (limited.code, limited.headers["retry-after"]) == ("c", "9")
    assert upstream_error(503, b"<html>busy</html>", {}).status_code == 502
    assert upstream_error(500, b'{"detail": "boom"}', {}).message == (
        "The upstream failed with status 500: boom"
    )
