"""Gemini's failures as OpenAI clients see them: error statuses and bodies, failed finish
reasons, error events and broken connections mid-stream. None of them is a silent ``stop``."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from gemini_wire import (
    GENERATE,
    PUBLIC,
    STREAM,
    answer,
    gemini_config,
    gemini_error,
    gemini_json,
    gemini_sse,
    sse_event,
    usage_metadata,
)

import plugbay_gemini
from plugbay.testing import Reply

MESSAGES = [{"role": "user", "content": "hi"}]
RETRY_INFO = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {
                "quotaMetric": (
                    "generativelanguage.googleapis.com/generate_content_free_tier_requests"
                ),
                "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            }
        ],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26.481s"},
]
API_KEY_INVALID = [
    {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"},
    }
]

# (id, the upstream's answer, status the client sees, error code, retry-after)
STATUS_CASES: list[tuple[str, Reply, int, str | None, str | None]] = [
    (
        "400-invalid-argument",
        gemini_error(400, "Invalid value at 'contents[0].parts[0]'", "INVALID_ARGUMENT"),
        400,
        "invalid_argument",
        None,
    ),
    (
        "400-context-length",
        gemini_error(
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
            "INVALID_ARGUMENT",
        ),
        400,
        "context_length_exceeded",
        None,
    ),
    (
        "400-api-key-invalid",
        gemini_error(
            400,
            "API key not valid. Please pass a valid API key.",
            "INVALID_ARGUMENT",
            API_KEY_INVALID,
        ),
        502,
        "upstream_auth_error",
        None,
    ),
    (
        "403-permission-denied",
        gemini_error(403, "Method doesn't allow unregistered callers.", "PERMISSION_DENIED"),
        502,
        "upstream_auth_error",
        None,
    ),
    (
        "404-not-found",
        gemini_error(404, "models/gemini-9 is not found for API version v1beta", "NOT_FOUND"),
        404,
        "not_found",
        None,
    ),
    (
        "429-retry-info",
        gemini_error(429, "You exceeded your current quota.", "RESOURCE_EXHAUSTED", RETRY_INFO),
        429,
        "rate_limit_exceeded",
        "27",
    ),
    (
        "429-retry-after-header",
        gemini_error(
            429, "Resource exhausted.", "RESOURCE_EXHAUSTED", headers={"retry-after": "7"}
        ),
        429,
        "rate_limit_exceeded",
        "7",
    ),
    (
        "500-internal",
        gemini_error(500, "An internal error has occurred.", "INTERNAL"),
        502,
        "upstream_error",
        None,
    ),
    (
        "503-unavailable",
        gemini_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE"),
        503,
        "upstream_unavailable",
        None,
    ),
    (
        "504-deadline",
        gemini_error(504, "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED"),
        504,
        "upstream_timeout",
        None,
    ),
    (
        "502-html-from-a-proxy",
        Reply(
            status=502,
            body=b"<html><body>Bad Gateway</body></html>",
            headers={"content-type": "text/html"},
        ),
        502,
        "upstream_error",
        None,
    ),
    (
        "vertex-style-array-body",
        gemini_json(
            [
                {
                    "error": {
                        "code": 429,
                        "message": "Resource exhausted.",
                        "status": "RESOURCE_EXHAUSTED",
                    }
                }
            ],
            status=429,
        ),
        429,
        "rate_limit_exceeded",
        None,
    ),
]


def _error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.mark.parametrize(
    ("reply", "status", "code", "retry_after"),
    [c[1:] for c in STATUS_CASES],
    ids=[c[0] for c in STATUS_CASES],
)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_error_statuses(
    gemini: Any, reply: Reply, status: int, code: str, retry_after: str | None, stream: bool
) -> None:
    gemini.upstream.script(reply, path=STREAM if stream else GENERATE)
    with pytest.raises(openai.APIStatusError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES, stream=stream)
    assert caught.value.status_code == status
    error = _error_of(caught.value)
    assert error["code"] == code
    assert caught.value.response.headers.get("retry-after") == retry_after


def test_relayed_messages(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_error(400, "Invalid value at 'contents[0].parts[0]'", "INVALID_ARGUMENT"),
        gemini_error(
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed.",
            "INVALID_ARGUMENT",
        ),
        path=GENERATE,
    )
    with pytest.raises(openai.BadRequestError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert _error_of(caught.value) == {
        "message": "Invalid value at 'contents[0].parts[0]'",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_argument",
    }
    with pytest.raises(openai.BadRequestError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert _error_of(caught.value)["param"] == "messages"


FAILED_FINISHES = [
    ("MALFORMED_FUNCTION_CALL", "Malformed function call: print(default_api.f(x=)"),
    ("OTHER", None),
    ("LANGUAGE", None),
    ("UNEXPECTED_TOOL_CALL", None),
    ("FINISH_REASON_UNSPECIFIED", None),
    ("A_REASON_INVENTED_NEXT_YEAR", None),
]


@pytest.mark.parametrize(
    ("reason", "message"), FAILED_FINISHES, ids=[f[0] for f in FAILED_FINISHES]
)
def test_failed_finish_is_an_error_not_a_stop(
    gemini: Any, reason: str, message: str | None
) -> None:
    extra = {"finishMessage": message} if message else None
    gemini.upstream.script(
        gemini_json(answer(None, reason, usage=usage_metadata(5, 0), extra=extra)), path=GENERATE
    )
    with pytest.raises(openai.APIStatusError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert caught.value.status_code == 502
    error = _error_of(caught.value)
    assert error["code"] == reason.lower()
    assert reason in error["message"]
    if message:
        assert message in error["message"]


def _raw_stream(gemini: Any) -> list[Any]:
    with gemini.client.chat.completions.with_streaming_response.create(
        model=PUBLIC, messages=MESSAGES, stream=True
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def test_malformed_function_call_mid_stream(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_sse(
            [
                answer([{"text": "Calling"}], None),
                answer(None, "MALFORMED_FUNCTION_CALL", extra={"finishMessage": "bad call"}),
            ]
        ),
        path=STREAM,
    )
    events = _raw_stream(gemini)
    assert [e.get("choices", [{}])[0].get("delta") for e in events[:-1]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Calling"},
    ]
    assert events[-1]["error"]["code"] == "malformed_function_call"
    assert "bad call" in events[-1]["error"]["message"]
    assert all(c.get("finish_reason") is None for e in events[:-1] for c in e["choices"])


def test_error_event_mid_stream(gemini: Any) -> None:
    """Gemini reports a failure after a 200 as an error event; the text so far arrives, then
    OpenAI's error event, and the SDK raises."""
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    events = [
        answer([{"text": "The first"}], None, usage=usage_metadata(4, 2)),
        answer([{"text": " half"}], None, usage=usage_metadata(4, 3)),
        error,
    ]
    gemini.upstream.script(gemini_sse(events), gemini_sse(events), path=STREAM)
    received = _raw_stream(gemini)
    assert [e["choices"][0]["delta"] for e in received[:-1]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "The first"},
        {"content": " half"},
    ]
    assert received[-1] == {
        "error": {
            "message": "Gemini is unavailable: The model is overloaded.",
            "type": "upstream_error",
            "param": None,
            "code": "upstream_unavailable",
        }
    }
    texts: list[str] = []

    def consume() -> None:
        stream = gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES, stream=True)
        texts.extend(chunk.choices[0].delta.content or "" for chunk in stream)

    with pytest.raises(openai.APIError, match="overloaded"):
        consume()
    assert "".join(texts) == "The first half"


def test_stream_ending_without_finish_is_an_error(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_sse([answer([{"text": "cut"}], None), answer([{"text": " short"}], None)]),
        path=STREAM,
    )
    events = _raw_stream(gemini)
    assert [e["choices"][0]["delta"].get("content") for e in events[:-1]] == ["", "cut", " short"]
    assert events[-1]["error"]["code"] == "upstream_incomplete"


def test_empty_stream_is_an_error(gemini: Any) -> None:
    """Nothing was sent to the client yet (the router reads the first event before it
    answers, so that another deployment could take over): an error answer, not a stream."""
    gemini.upstream.script(gemini_sse([]), path=STREAM)
    with pytest.raises(openai.APIStatusError) as info:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES, stream=True)
    assert info.value.status_code == 502
    assert info.value.body == {
        "message": "Gemini ended the stream before the answer was complete.",
        "type": "upstream_error",
        "param": None,
        "code": "upstream_incomplete",
    }


def test_unreadable_event_is_an_error(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_sse([answer([{"text": "a"}], None), b"data: {not json\r\n\r\n"]), path=STREAM
    )
    events = _raw_stream(gemini)
    assert events[-1]["error"]["message"] == "Gemini sent an event that is not valid JSON."


def test_events_split_across_reads(gemini: Any) -> None:
    """An event may arrive in pieces and several in one read; comments and blank data lines
    are skipped."""
    whole = b"".join(
        [
            b": keep-alive\r\n\r\n",
            sse_event(answer([{"text": "Hel"}], None)),
            sse_event(answer([{"text": "lo"}], "STOP")),
        ]
    )
    pieces = [whole[:10], whole[10:57], whole[57:58], whole[58:]]
    gemini.upstream.script(gemini_sse(pieces, interval=0.01), path=STREAM)
    events = _raw_stream(gemini)
    assert [e["choices"][0]["delta"].get("content") for e in events] == ["", "Hel", "lo", None]
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_connection_refused_is_502(gemini: Any) -> None:
    gemini.upstream.script(Reply.disconnect(), path=GENERATE)
    with pytest.raises(openai.InternalServerError) as caught:
        gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert caught.value.status_code == 502


def test_stalled_stream_times_out(make_gateway: Any, scripted_upstream: Any) -> None:
    config = gemini_config(scripted_upstream.url, timeout=2)  # the first chunk is never late
    gateway = make_gateway(config, plugins=[plugbay_gemini])
    scripted_upstream.script(
        gemini_sse([answer([{"text": "a"}], None), answer([{"text": "b"}], "STOP")], hang_after=1),
        path=STREAM,
    )
    client = gateway.openai()
    with client.chat.completions.with_streaming_response.create(
        model=PUBLIC, messages=MESSAGES, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert [e["choices"][0]["delta"].get("content") for e in events[:-1]] == ["", "a"]
    assert events[-1]["error"]["code"] == "upstream_timeout"


def test_error_body_on_a_200_answer(gemini: Any) -> None:
    gemini.upstream.script(
        gemini_json({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
        gemini_json({"candidates": []}),
        Reply(status=200, body=b"not json", headers={"content-type": "text/plain"}),
        path=GENERATE,
    )
    for message in (
        "Gemini failed with status 500: boom",
        "Gemini answered without any candidate.",
        "Gemini sent an answer we could not read.",
    ):
        with pytest.raises(openai.InternalServerError) as caught:
            gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
        assert _error_of(caught.value)["message"] == message
