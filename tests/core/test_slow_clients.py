"""Clients that send too slowly are closed (slowloris), without disturbing anyone else."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from plugbay.testing import fake

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
# Generous on a busy machine: a closed connection must be seen within this.
WITHIN = 20.0


def config(**server: float) -> dict[str, object]:
    return {
        "server": server,
        "providers": [{"name": "f", "type": "fake"}],
        "models": [{"name": "m", "provider": "f"}],
    }


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=WITHIN)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def answer_of(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


class Dribbler(threading.Thread):
    """Sends ``data`` one byte every ``pause`` seconds until the server closes the socket."""

    def __init__(self, sock: socket.socket, data: bytes, pause: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.data, self.pause = data, pause
        self.started_at = time.monotonic()
        self.closed_after: float | None = None
        self.answer = b""
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for byte in self.data:
                if self.stop.is_set():
                    return
                self.sock.sendall(bytes([byte]))
                self.stop.wait(self.pause)
        except OSError:  # the server closed it: what we wait for
            pass
        finally:
            try:
                self.answer = read_until_closed(self.sock)
            except OSError:
                pass
            self.closed_after = time.monotonic() - self.started_at
            self.sock.close()


def test_slowloris_connections_are_closed_and_others_are_served(make_gateway, master_key):
    gw = make_gateway(config(header_timeout=1.0), plugins=[fake])
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 400 + b"\r\n\r\n"
    )
    attackers = [Dribbler(connect(gw.url), head, pause=0.05) for _ in range(20)]
    for attacker in attackers:
        attacker.start()
    with httpx.Client(base_url=gw.url, timeout=WITHIN) as client:
        for _ in range(5):  # the gateway keeps serving while they dribble
            answer = client.post(
                "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {master_key}"}
            )
            assert answer.status_code == 200
    for attacker in attackers:
        attacker.join(WITHIN)
        assert attacker.closed_after is not None, "still held open"
        # 400 bytes at 20 a second would take 20 s: closed at the 1 s deadline instead
        assert attacker.closed_after < 15
        status, body = answer_of(attacker.answer)
        assert status == 408
        assert body["error"]["code"] == "request_timeout"  # type: ignore[index]


def test_a_body_slower_than_the_minimum_rate_is_closed(make_gateway, master_key):
    gw = make_gateway(config(body_timeout=1.0, min_body_rate=1000), plugins=[fake])
    body = json.dumps(CHAT).encode().ljust(5000)
    sock = connect(gw.url)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {master_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    slow = Dribbler(sock, body, pause=0.05)
    slow.start()
    slow.join(WITHIN)
    assert slow.closed_after is not None, "still held open"
    assert slow.closed_after < 15  # 5,000 bytes at 20 a second: 250 s
    status, answer = answer_of(slow.answer)
    assert status == 408
    assert answer["error"]["code"] == "request_timeout"  # type: ignore[index]
    # the gateway is fine
    assert httpx.get(gw.url + "/health/ready", timeout=WITHIN).status_code == 200


def test_a_body_that_keeps_up_the_rate_is_served(make_gateway, master_key):
    gw = make_gateway(config(body_timeout=1.0, min_body_rate=1000), plugins=[fake])
    body = json.dumps({**CHAT, "user": "u" * 20000}).encode()
    sock = connect(gw.url)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {master_key}\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Connection: close\r\n\r\n"
    )
    for start in range(0, len(body), 4000):  # 4,000 bytes every 0.2 s: 20 kB/s
        sock.sendall(body[start : start + 4000])
        time.sleep(0.2)  # pacing the client, not waiting for the server
    status, answer = answer_of(read_until_closed(sock))
    sock.close()
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "hello"  # type: ignore[index]


def test_a_silent_connection_is_closed_after_the_keep_alive_timeout(make_gateway):
    gw = make_gateway(config(), plugins=[fake])
    sock = connect(gw.url)
    started = time.monotonic()
    assert read_until_closed(sock) == b""  # closed by the server, nothing said
    sock.close()
    assert time.monotonic() - started < WITHIN + 10


@pytest.mark.parametrize("field", ["header_timeout", "body_timeout", "min_body_rate"])
def test_the_limits_must_be_positive(field):
    from plugbay._settings import ConfigError, parse_settings

    with pytest.raises(ConfigError, match=f"server.{field}: must be positive"):
        parse_settings({"server": {field: 0}}, source="t")
