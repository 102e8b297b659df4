"""Every failure is an OpenAI error object with the right status; the worker survives."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from plugbay.testing import Reply
from tests.core.support import CHAT, relay, relay_config
from tests.helpers import free_port

ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture
def gw(make_client, scripted_upstream):
    # 2 s: a hang is told apart quickly, and an answer that comes at once is never late even
    # when the machine is busy (this process runs the upstream, the gateway and the client)
    return make_client(relay_config(scripted_upstream.base_url, timeout=2), plugins=[relay])


@pytest.fixture
def http(gw):
    with gw.http(timeout=10) as client:
        yield client


def error_of(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


# --- 400 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "public"}, "messages"),
        ({"model": 42, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "public", "messages": "hello"}, "messages"),
        ({"model": "public", "messages": [{"content": "x"}]}, "messages[0].role"),
        ({"model": "public", "messages": [{"role": 1, "content": "x"}]}, "messages[0].role"),
        ({"model": "public", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({**CHAT, "temperature": "hot"}, "temperature"),
        ({**CHAT, "stream": "yes"}, "stream"),
        ({**CHAT, "n": True}, "n"),
        ({**CHAT, "max_tokens": 1.5}, "max_tokens"),
        ({**CHAT, "stream_options": {"include_usage": "y"}}, "stream_options.include_usage"),
        ({**CHAT, "tools": [{"type": "function"}]}, "tools[0].function"),
        ({"model": "public", "messages": []}, "messages"),
    ],
)
def test_invalid_chat_fields_name_the_param(http, body, param):
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "public"}, "input"),
        ({"model": "public", "input": ""}, "input"),
        ({"model": "public", "input": []}, "input"),
        ({"model": "public", "input": [1, "a"]}, "input"),
        ({"model": "public", "input": 7}, "input"),
        ({"model": "public", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "public", "input": "x", "dimensions": "3"}, "dimensions"),
    ],
)
def test_invalid_embeddings_fields_name_the_param(http, body, param):
    response = http.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    assert error_of(response)["param"] == param


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"", b"[]", b'"a string"', b"123", b"null", b'{"model": "public",}'],
)
def test_malformed_or_non_object_json_is_400(http, raw):
    response = http.post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_sdk_bad_request(gw):
    with pytest.raises(openai.BadRequestError) as info:
        gw.openai().chat.completions.create(model="public", messages=[])
    assert info.value.status_code == 400
    assert info.value.param == "messages"


# --- 401 ----------------------------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/public", None),
    ("POST", "/v1/chat/completions", CHAT),
    ("POST", "/v1/embeddings", {"model": "public", "input": "x"}),
    ("GET", "/admin/plugins", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer sk-wrong-key-0123456789"}, {"authorization": "Basic abc"}],
)
def test_missing_or_bad_key_is_401(gw, scripted_upstream, method, path, body, headers):
    response = gw.http(auth=False).request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] in {"invalid_api_key", "missing_api_key"}
    assert "sk-wrong-key-0123456789" not in response.text  # masked
    assert scripted_upstream.requests == []


def test_sdk_authentication_error(gw):
    with pytest.raises(openai.AuthenticationError) as info:
        gw.openai(api_key="sk-not-the-key-123456").chat.completions.create(**CHAT)
    assert info.value.status_code == 401


# --- 404 / 405 ----------------------------------------------------------------------------------


def test_unknown_model_is_404_model_not_found(gw, http):
    with pytest.raises(openai.NotFoundError) as info:
        gw.openai().chat.completions.create(model="nope", messages=CHAT["messages"])
    assert info.value.code == "model_not_found"
    response = http.post("/v1/embeddings", json={"model": "nope", "input": "x"})
    assert response.status_code == 404
    assert error_of(response)["param"] == "model"


def test_unknown_route_is_an_openai_404(http):
    response = http.get("/v1/nothing/here")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "/v1/nothing/here" in error["message"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),
        ("PUT", "/v1/embeddings"),
        ("POST", "/v1/models"),
        ("DELETE", "/health"),
    ],
)
def test_wrong_method_is_an_openai_405(http, method, path):
    response = http.request(method, path)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response.headers["x-request-id"]


# --- 413 ----------------------------------------------------------------------------------------


def test_default_body_limit_is_20_mib(make_client, master_key, scripted_upstream):
    # relaying 20 MiB takes a while on a busy machine: not the 0.5 s of the other tests
    gw = make_client(relay_config(scripted_upstream.base_url, timeout=60), plugins=[relay])
    http = gw.http()
    assert gw.settings.server.max_body_size == 20 * 1024 * 1024
    padding = "x" * (20 * 1024 * 1024)
    response = http.post(
        "/v1/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": padding}]}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "request_too_large"
    assert scripted_upstream.requests == []
    # Just under the limit still goes through.
    small = "x" * (20 * 1024 * 1024 - 200)
    response = http.post(
        "/v1/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": small}]}
    )
    http.close()
    assert response.status_code == 200


def test_body_limit_is_configurable_and_applies_to_chunked_bodies(
    make_client, scripted_upstream, master_key
):
    gw = make_client(
        {**relay_config(scripted_upstream.base_url), "server": {"max_body_size": 1000}},
        plugins=[relay],
    )
    headers = {"authorization": f"Bearer {master_key}", "content-type": "application/json"}
    body = b'{"model": "public", "messages": [{"role": "user", "content": "' + b"y" * 1000 + b'"}]}'
    response = gw.http(auth=False).post("/v1/chat/completions", content=body, headers=headers)
    assert response.status_code == 413
    assert "1000" in error_of(response)["message"]

    def chunked():  # no content-length: counted as it arrives
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = gw.http(auth=False).post("/v1/chat/completions", content=chunked(), headers=headers)
    assert response.status_code == 413
    ok = gw.http(auth=False).post("/v1/chat/completions", json=CHAT, headers=headers)
    assert ok.status_code == 200


# --- upstream failures --------------------------------------------------------------------------


def test_upstream_429_keeps_retry_after(gw, scripted_upstream):
    scripted_upstream.script(
        Reply.error(
            429, "Slow down", "rate_limit_error", "rate_limit_exceeded", {"retry-after": "7"}
        )
    )
    with pytest.raises(openai.RateLimitError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.body["type"] == "rate_limit_error"


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_upstream_5xx_is_502(gw, scripted_upstream, status):
    scripted_upstream.script(Reply.error(status, "boom", "server_error"))
    with pytest.raises(openai.InternalServerError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 502
    assert info.value.code == "upstream_error"


def test_upstream_5xx_on_a_stream_is_502(gw, http, scripted_upstream):
    scripted_upstream.script(Reply.error(500, "boom", "server_error"))
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_error"


def test_upstream_dropping_the_connection_is_502(gw, scripted_upstream):
    scripted_upstream.script(Reply.disconnect())
    with pytest.raises(openai.APIStatusError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 502


def test_unreachable_upstream_is_502(make_client):
    closed = f"http://127.0.0.1:{free_port()}/v1"
    gw = make_client(relay_config(closed), plugins=[relay])
    with pytest.raises(openai.InternalServerError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 502
    assert "ConnectError" in info.value.message


def test_upstream_timeout_is_504(gw, scripted_upstream, http):
    scripted_upstream.script(Reply.hang(60), Reply.hang(60))
    with pytest.raises(openai.APIStatusError) as info:
        gw.openai(timeout=30).chat.completions.create(**CHAT)
    assert info.value.status_code == 504
    assert info.value.code == "upstream_timeout"
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 504
    assert response.elapsed.total_seconds() < 20  # the entry's 2 s, not the upstream's 60


def test_upstream_client_errors_are_relayed(gw, scripted_upstream):
    scripted_upstream.script(
        Reply.error(400, "This model's maximum context length is 8 tokens", code="context_length")
    )
    with pytest.raises(openai.BadRequestError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.code == "context_length"
    assert "maximum context length" in info.value.message


def test_upstream_refusing_provider_credentials_is_502(gw, scripted_upstream):
    scripted_upstream.script(Reply.error(401, "Incorrect API key provided: sk-ups...cret"))
    with pytest.raises(openai.InternalServerError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 502
    assert info.value.code == "upstream_auth_error"
    assert "sk-ups" not in info.value.message


# --- the worker survives anything ---------------------------------------------------------------

GARBAGE: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/v1/chat/completions", b"\xff\xfe\x00garbage", {}),
    ("POST", "/v1/chat/completions", b'{"model": "\xff\xfe", "messages": []}', {}),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "\xc3\x28"}]}',
        {},
    ),
    ("POST", "/v1/embeddings", b'{"model": "public", "input": "\xed\xa0\x80"}', {}),
    ("POST", "/v1/chat/completions", b'{"model": "public", "messages": [1, 2, 3]}', {}),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": [1]}]}',
        {},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1e400}',
        {},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "x"}], '
        b'"temperature": -1e400}',
        {},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "x"}], '
        b'"n": 999999999999999999999999999999}',
        {},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "x"}], "tool_choice": 12}',
        {},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "tool_calls": [{"id": 1}]}]}',
        {},
    ),
    ("POST", "/v1/chat/completions", b'{"model": null, "messages": null}', {}),
    ("POST", "/v1/chat/completions", b'{"model": ["public"], "messages": {}}', {}),
    ("POST", "/v1/chat/completions", b'{"model": {"a": 1}}', {}),
    ("POST", "/v1/chat/completions", b"[" * 100_000, {}),
    ("POST", "/v1/chat/completions", b'{"a": ' * 5000, {}),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "' + b"m" * 100_000 + b'", "messages": [{"role": "user"}]}',
        {},
    ),
    ("POST", "/v1/chat/completions", b"\x00" * 64, {}),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "public", "messages": [{"role": "user", "content": "x"}]}',
        {"content-type": "text/plain"},
    ),
    (
        "POST",
        "/v1/chat/completions",
        b"model=public&messages=x",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    ("POST", "/v1/embeddings", b'{"model": "public", "input": [[1, 2], ["a"]]}', {}),
    ("POST", "/v1/embeddings", b'{"model": "public", "input": [true, false]}', {}),
    ("POST", "/v1/embeddings", b'{"model": "public", "input": [[]]}', {}),
    ("POST", "/v1/embeddings", b'{"model": "public", "input": "x", "dimensions": -1e999}', {}),
    ("GET", "/v1/chat/completions", b"", {}),
    ("PATCH", "/v1/models", b"{}", {}),
    ("OPTIONS", "/v1/chat/completions", b"", {}),
    ("HEAD", "/v1/embeddings", b"", {}),
    ("GET", "/v1/models/%00%ff", b"", {}),
    ("GET", "/v1/models/" + "a/" * 500, b"", {}),
    ("POST", "/admin/plugins", b"{}", {}),
    ("GET", "/v1/../../etc/passwd", b"", {}),
]


def test_garbage_never_breaks_the_worker(gw, http):
    for method, path, body, headers in GARBAGE:
        response = http.request(method, path, content=body, headers=headers)
        # Huge numbers are passed on (the upstream judges them); nothing is a 5xx.
        assert response.status_code < 500, (method, path, body[:80], response.text[:300])
        assert response.headers["x-request-id"]
        if response.status_code >= 400 and method != "HEAD":
            error_of(response)
    # ... and it still answers a good request.
    assert http.post("/v1/chat/completions", json=CHAT).json()["model"] == "public"


# --- x-request-id -------------------------------------------------------------------------------

_ID = re.compile(r"^req_[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/v1/chat/completions", CHAT, 200),
        ("POST", "/v1/chat/completions", {**CHAT, "stream": True}, 200),
        ("POST", "/v1/chat/completions", {"model": "nope", "messages": CHAT["messages"]}, 404),
        ("POST", "/v1/chat/completions", {"model": "public"}, 400),
        ("POST", "/v1/embeddings", {"model": "public", "input": "x"}, 200),
        ("GET", "/v1/models", None, 200),
        ("GET", "/v1/models/nope", None, 404),
        ("GET", "/health", None, 200),
        ("GET", "/health/ready", None, 200),
        ("GET", "/nowhere", None, 404),
        ("GET", "/v1/chat/completions", None, 405),
        ("GET", "/admin/plugins", None, 200),
    ],
)
def test_every_answer_carries_x_request_id(http, method, path, body, status):
    response = http.request(method, path, json=body)
    assert response.status_code == status
    assert _ID.match(response.headers["x-request-id"])
    mine = http.request(method, path, json=body, headers={"x-request-id": "my-trace-42"})
    assert mine.headers["x-request-id"] == "my-trace-42"
    assert mine.headers.get_list("x-request-id") == ["my-trace-42"]


def test_request_id_on_401_and_upstream_errors(gw, http, scripted_upstream):
    response = gw.http(auth=False).get("/v1/models", headers={"x-request-id": "abc"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "abc"
    scripted_upstream.script(Reply.error(500, "boom"))
    response = http.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502
    assert _ID.match(response.headers["x-request-id"])


def test_insane_request_ids_are_replaced(http):
    response = http.get("/health", headers={"x-request-id": "has space"})
    assert _ID.match(response.headers["x-request-id"])
    response = http.get("/health", headers={"x-request-id": "x" * 500})
    assert _ID.match(response.headers["x-request-id"])
