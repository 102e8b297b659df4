"""Anthropic's error answers (and Vertex AI's) → OpenAI errors, as the openai SDK raises them."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from claude_gateway import Upstream
from claude_wire import error_reply, json_reply, message, text

from plugbay.testing import Reply

HELLO: Any = [{"role": "user", "content": "Hello"}]


def case(
    status: int,
    kind: str,
    message: str,
    error: type[openai.APIStatusError],
    client_status: int,
    client_type: str,
    code: str | None,
    client_message: str,
) -> Any:
    return pytest.param(
        status,
        kind,
        message,
        error,
        client_status,
        client_type,
        code,
        client_message,
        id=f"{status} {kind}",
    )


CASES = [
    case(
        400,
        "invalid_request_error",
        'messages: roles must alternate between "user" and "assistant"',
        openai.BadRequestError,
        400,
        "invalid_request_error",
        None,
        'messages: roles must alternate between "user" and "assistant"',
    ),
    case(
        401,
        "authentication_error",
        "invalid x-api-key",
        openai.InternalServerError,
        502,
        "upstream_error",
        "upstream_auth_error",
        "The upstream refused the provider's credentials (401).",
    ),
    case(
        402,
        "billing_error",
        "Your credit balance is too low.",
        openai.InternalServerError,
        502,
        "upstream_error",
        "upstream_billing_error",
        "The upstream refused the request for billing reasons (402).",
    ),
    case(
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
        openai.InternalServerError,
        502,
        "upstream_error",
        "upstream_auth_error",
        "The upstream refused the provider's credentials (403).",
    ),
    case(
        404,
        "not_found_error",
        "model: claude-sonnet-4-5",
        openai.NotFoundError,
        404,
        "invalid_request_error",
        "not_found",
        "model: claude-sonnet-4-5",
    ),
    case(
        413,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
        openai.APIStatusError,
        413,
        "invalid_request_error",
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
    ),
    case(
        500,
        "api_error",
        "Internal server error",
        openai.InternalServerError,
        502,
        "upstream_error",
        "upstream_error",
        "The upstream failed with status 500: Internal server error",
    ),
    case(
        504,
        "timeout_error",
        "Request timeout",
        openai.InternalServerError,
        504,
        "upstream_error",
        "upstream_timeout",
        "The upstream timed out: Request timeout",
    ),
    case(
        529,
        "overloaded_error",
        "Overloaded",
        openai.InternalServerError,
        503,
        "server_error",
        "upstream_overloaded",
        "Overloaded",
    ),
]


@pytest.mark.parametrize(
    (
        "status",
        "kind",
        "upstream_message",
        "error",
        "client_status",
        "client_type",
        "code",
        "client_message",
    ),
    CASES,
)
def test_error_mapping(
    client: openai.OpenAI,
    upstream: Upstream,
    status: int,
    kind: str,
    upstream_message: str,
    error: type[openai.APIStatusError],
    client_status: int,
    client_type: str,
    code: str | None,
    client_message: str,
) -> None:
    upstream.add(error_reply(status, kind, upstream_message))
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    raised = caught.value
    assert raised.status_code == client_status
    assert raised.body == {
        "message": client_message,
        "type": client_type,
        "param": None,
        "code": code,
    }


def test_rate_limit_keeps_retry_after(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(
        error_reply(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization.",
            headers={"retry-after": "17", "anthropic-ratelimit-requests-remaining": "0"},
        )
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "17"
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.body["message"] == (  # type: ignore[index]
        "This request would exceed the rate limit for your organization."
    )


def test_overloaded_is_retried_by_the_sdk(gateway: Any, upstream: Upstream) -> None:
    upstream.add(
        error_reply(529, "overloaded_error", "Overloaded"),
        json_reply(message([text("Second time lucky")])),
    )
    client = gateway.openai(max_retries=1)
    answer = client.chat.completions.create(model="claude", messages=HELLO)
    assert answer.choices[0].message.content == "Second time lucky"
    assert len(upstream.requests) == 2


def test_rate_limited_stream_request(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(error_reply(429, "rate_limit_error", "Slow down", headers={"retry-after": "3"}))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    assert caught.value.response.headers["retry-after"] == "3"
    assert upstream.body()["stream"] is True


@pytest.mark.parametrize(
    ("body", "status", "error", "expected"),
    [
        pytest.param(
            {
                "error": {
                    "code": 429,
                    "message": "Quota exceeded for aiplatform.googleapis.com/"
                    "online_prediction_requests_per_base_model.",
                    "status": "RESOURCE_EXHAUSTED",
                }
            },
            429,
            openai.RateLimitError,
            "Quota exceeded for aiplatform.googleapis.com/"
            "online_prediction_requests_per_base_model.",
            id="Google 429",
        ),
        pytest.param(
            [{"error": {"code": 400, "message": "Invalid project", "status": "INVALID_ARGUMENT"}}],
            400,
            openai.BadRequestError,
            "Invalid project",
            id="Google 400 in a list",
        ),
    ],
)
def test_vertex_google_errors(
    client: openai.OpenAI,
    upstream: Upstream,
    body: Any,
    status: int,
    error: type[openai.APIStatusError],
    expected: str,
) -> None:
    upstream.add(Reply.json(body, status=status))
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="claude-vertex", messages=HELLO)
    assert caught.value.body["message"] == expected  # type: ignore[index]


def test_error_page_from_a_proxy(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(
        Reply(status=502, body=b"<html>Bad Gateway</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 502
    message = caught.value.body["message"]  # type: ignore[index]
    assert message == "The upstream failed with status 502: <html>Bad Gateway</html>"


def test_connection_dropped(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(Reply.disconnect())
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 502


def test_unavailable_is_503_as_gemini_answers_it(client: openai.OpenAI, upstream: Upstream) -> None:
    """One ladder (plugbay.wire.errors): a 503 is answered alike by every vendor adapter."""
    upstream.add(error_reply(503, "api_error", "Service unavailable"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 503
    assert caught.value.body == {
        "message": "The upstream is unavailable: Service unavailable",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_unavailable",
    }
