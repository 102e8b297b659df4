"""What the HTTP layer rejects is still answered in OpenAI's error shape."""

from __future__ import annotations

import json
import socket

import pytest

from plugbay.testing import fake

CONFIG = {"providers": [{"name": "f", "type": "fake"}], "models": [{"name": "m", "provider": "f"}]}


@pytest.fixture
def gw(make_gateway):
    return make_gateway(CONFIG, plugins=[fake])


def raw(url: str, data: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer:
                head, _, body = answer.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    break
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 7\r\n\r\n{}",
        b"GET /v1/models/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["bad-content-length", "two-content-lengths", "70kb-url", "unknown-method", "garbage"],
)
def test_what_the_parser_rejects_is_a_json_400(gw, request_bytes):
    status, headers, body = raw(gw.url, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body == {
        "error": {
            "message": "Invalid HTTP request received.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_http_request",
        }
    }


@pytest.mark.parametrize("method", [b"DELETE", b"PURGE", b"PUT"])
def test_a_method_the_route_does_not_take_is_a_json_405(gw, method, master_key):
    status, headers, body = raw(
        gw.url,
        method + b" /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + master_key.encode() + b"\r\n\r\n",
    )
    assert status == 405
    assert headers["content-type"] == "application/json"
    assert body["error"]["code"] == "method_not_allowed"  # type: ignore[index]


def test_the_gateway_serves_on_after_bad_requests(gw, master_key):
    for _ in range(3):
        raw(gw.url, b"NOT HTTP AT ALL\r\n\r\n")
    status, _, body = raw(
        gw.url,
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + master_key.encode() + b"\r\n\r\n",
    )
    assert status == 200
    assert body["data"][0]["id"] == "m"  # type: ignore[index]
