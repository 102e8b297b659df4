"""Upstream calls are bounded: a total deadline, time to first byte, idle gaps, body size; and a
client that leaves a request that is not streaming cancels its upstream call.

Real HTTP upstreams on 127.0.0.1 (the scripted upstream, dripping or cutting its answers) behind
the core's ``relay`` test adapter, which has no error handling of its own: every bound here is
the core's upstream client's.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from typing import Any

import httpx
import msgspec
import pytest

from plugbay.testing import EventRecorder, Reply
from tests.core.support import CHAT, relay, relay_config

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "upstream-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
}
MiB = 1024 * 1024


def chunk(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def gateway(make_client, make_gateway, scripted_upstream, recorder):
    """``gateway(served=False, **provider_settings)``: a gateway relaying to the scripted
    upstream; in-process, or ``served`` on a real socket (for clients that leave)."""

    def make(served: bool = False, **provider: Any):
        config = relay_config(scripted_upstream.base_url, **provider)
        return (make_gateway if served else make_client)(config, plugins=[relay, recorder])

    return make


def post(gw, master_key, body=None, path="/v1/chat/completions") -> httpx.Response:
    return gw.http(auth=False).post(
        path,
        json=body or CHAT,
        headers={"authorization": f"Bearer {master_key}"},
        timeout=30,
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def sse_events(response: httpx.Response) -> list[bytes]:
    return [e for e in response.content.split(b"\n\n") if e]


def stream_error(events: list[bytes]) -> dict[str, Any]:
    """The error event a stream ended with (before ``[DONE]``)."""
    assert events[-1] == b"data: [DONE]"
    error = msgspec.json.decode(events[-2].removeprefix(b"data: "))["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


# --- time ------------------------------------------------------------------------------------


def test_a_dripping_answer_ends_at_the_total_deadline(gateway, scripted_upstream, master_key):
    """One byte every 200 ms: each read is quick, the answer never comes. ``timeout`` is the
    whole call's, not a read's."""
    gw = gateway(timeout=1.0)
    scripted_upstream.script(Reply.drip(COMPLETION, interval=0.2))
    started = time.monotonic()
    response = post(gw, master_key)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    assert "1 s" in error_of(response)["message"]
    assert 0.95 < elapsed < 3.5, elapsed
    (upstream,) = scripted_upstream.requests
    assert upstream.done.wait(5)
    assert upstream.disconnected  # the gateway hung up; it did not wait for the rest


def test_an_answer_within_the_deadline_is_whole(gateway, scripted_upstream, master_key):
    gw = gateway(timeout=5.0)
    scripted_upstream.script(Reply.drip(COMPLETION, interval=0.0, piece=7))
    response = post(gw, master_key)
    assert response.status_code == 200
    assert response.json()["choices"] == COMPLETION["choices"]


def test_a_stream_whose_headers_are_late_is_504(gateway, scripted_upstream, master_key, recorder):
    gw = gateway(timeout=30, first_byte_timeout=0.5)
    scripted_upstream.script(Reply.sse([chunk("late")], delay=10))
    started = time.monotonic()
    response = post(gw, master_key, {**CHAT, "stream": True})
    assert response.status_code == 504
    assert error_of(response)["code"] == "upstream_timeout"
    assert time.monotonic() - started < 3.5
    (event,) = recorder.wait_for(1)
    assert (event.status, event.error_code, event.stream) == (504, "upstream_timeout", True)


def test_a_stream_whose_first_byte_is_late_is_a_504(
    gateway, scripted_upstream, master_key, recorder
):
    """Headers at once, then nothing: the first-byte deadline holds inside the body too.
    The client was sent nothing yet (the router reads the first event before answering, so
    that another deployment could take over): a plain 504."""
    gw = gateway(timeout=30, first_byte_timeout=0.5)
    scripted_upstream.script(Reply.sse([chunk("never")], hang_after=0))
    started = time.monotonic()
    response = post(gw, master_key, {**CHAT, "stream": True})
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "upstream_timeout"
    assert "sent nothing within 0.5 s" in error["message"]
    assert time.monotonic() - started < 3.5
    assert recorder.wait_for(1)[0].status == 504


def test_a_stream_may_start_slower_than_its_idle_timeout(gateway, scripted_upstream, master_key):
    """The two stream timeouts are separate: a slow first byte is not an idle gap."""
    gw = gateway(timeout=30, first_byte_timeout=10, idle_timeout=0.3)
    events = [chunk("a"), chunk(" b"), b"data: [DONE]\n\n"]
    scripted_upstream.script(Reply.sse(events, delay=0.8, interval=0.05))
    response = post(gw, master_key, {**CHAT, "stream": True})
    assert b'"content":"a"' in response.content
    assert b'"error"' not in response.content


def test_an_idle_stream_ends_with_an_error_event(gateway, scripted_upstream, master_key, recorder):
    gw = gateway(timeout=30, idle_timeout=0.4)
    scripted_upstream.script(Reply.sse([chunk("a"), chunk("never")], hang_after=1))
    started = time.monotonic()
    response = post(gw, master_key, {**CHAT, "stream": True})
    events = sse_events(response)
    assert b'"content":"a"' in events[0]
    error = stream_error(events)
    assert error["code"] == "upstream_timeout"
    assert "silent for 0.4 s" in error["message"]
    assert time.monotonic() - started < 4
    (event,) = recorder.wait_for(1)
    assert (event.status, event.error_code) == (504, "upstream_timeout")
    assert scripted_upstream.requests[0].done.wait(5)
    assert scripted_upstream.requests[0].disconnected


# --- a client that leaves --------------------------------------------------------------------


def leave_after_upstream_has_it(gw, master_key, scripted_upstream, body: dict[str, Any], path):
    """Send the request on a raw socket; close it once the upstream holds the request."""
    data = msgspec.json.encode(body)
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {master_key}\r\ncontent-length: {len(data)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as sock:
        sock.sendall(head + data)
        scripted_upstream.wait_arrived(1, timeout=10)
    return time.monotonic()


@pytest.mark.parametrize(
    ("path", "body", "reply"),
    [
        ("/v1/chat/completions", CHAT, Reply.hang(30)),
        ("/v1/embeddings", {"model": "public", "input": "x"}, Reply.hang(30)),
        # a stream whose headers have not come yet
        ("/v1/chat/completions", {**CHAT, "stream": True}, Reply.sse([chunk("a")], delay=30)),
    ],
    ids=["chat", "embeddings", "stream-before-headers"],
)
def test_a_client_that_leaves_cancels_the_upstream_call(
    gateway, scripted_upstream, master_key, recorder, path, body, reply
):
    gw = gateway(served=True, timeout=60)
    scripted_upstream.script(reply)
    left = leave_after_upstream_has_it(gw, master_key, scripted_upstream, body, path)
    (upstream,) = scripted_upstream.requests
    assert upstream.done.wait(5), "the upstream call went on after the client left"
    # Promptly: the watcher acts on the disconnect itself (loose bound: a busy machine).
    assert time.monotonic() - left < 2.0
    assert upstream.disconnected
    (event,) = recorder.wait_for(1)
    assert (event.status, event.error_code) == (499, "client_disconnected")


def test_the_gateway_serves_on_after_clients_leave(
    gateway, scripted_upstream, master_key, recorder
):
    gw = gateway(served=True, timeout=60)
    for _ in range(5):
        scripted_upstream.script(Reply.hang(30))
        leave_after_upstream_has_it(gw, master_key, scripted_upstream, CHAT, "/v1/chat/completions")
        assert scripted_upstream.wait_for(1)[0].disconnected
        scripted_upstream.requests.clear()
    assert [e.status for e in recorder.wait_for(5)] == [499] * 5
    assert post(gw, master_key).json()["model"] == "public"
    assert gw.gateway._tasks == set()


# --- size and shape --------------------------------------------------------------------------


def test_a_declared_oversize_answer_is_refused_unread(gateway, scripted_upstream, master_key):
    gw = gateway(max_response_size=MiB)
    scripted_upstream.script(Reply.json(b"{" + b" " * (2 * MiB) + b"}"))
    response = post(gw, master_key)
    assert response.status_code == 502
    error = error_of(response)
    assert error["code"] == "upstream_response_too_large"
    assert str(MiB) in error["message"]


def test_an_oversize_answer_is_cut_off_and_memory_stays_bounded(
    gateway, scripted_upstream, master_key
):
    """50 MB without a Content-Length: the gateway stops at the cap, it does not buffer it."""
    gw = gateway(max_response_size=MiB)
    piece = b" " * MiB
    scripted_upstream.script(
        Reply(events=[b"{", *([piece] * 50), b"}"], headers={"content-type": "application/json"})
    )
    tracemalloc.start()
    try:
        response = post(gw, master_key)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_response_too_large"
    # Unbounded, the answer alone would be 50 MB, and twice that joined.
    assert peak < 12 * MiB, f"{peak / MiB:.1f} MiB"
    (upstream,) = scripted_upstream.requests
    assert upstream.done.wait(5)
    assert upstream.disconnected


def test_an_unterminated_stream_event_over_the_cap_is_an_error_event(
    gateway, scripted_upstream, master_key
):
    """The relay adapter's SSEBuffer is the toolkit's: its tail is capped too (default 64 MiB;
    here the buffer of a stream that never ends an event)."""
    gw = gateway()
    first = b"data: " + msgspec.json.encode(chunk("a")) + b"\n\n"
    endless = [b"data: {" + b" " * MiB] * 70
    scripted_upstream.script(Reply.sse([first, *endless]))
    response = post(gw, master_key, {**CHAT, "stream": True})
    events = sse_events(response)
    assert b'"content":"a"' in events[0]
    assert stream_error(events)["code"] == "upstream_response_too_large"


def test_an_answer_cut_short_is_502(gateway, scripted_upstream, master_key):
    gw = gateway()
    scripted_upstream.script(Reply.drip(COMPLETION, interval=0.0, piece=16, cut_after=32))
    response = post(gw, master_key)
    assert response.status_code == 502
    assert "broke before the answer was complete" in error_of(response)["message"]


def test_a_streamed_error_answer_is_capped(gateway, scripted_upstream, master_key):
    gw = gateway(max_response_size=MiB)
    scripted_upstream.script(
        Reply(status=500, events=[b"x" * MiB] * 3, headers={"content-type": "text/plain"})
    )
    response = post(gw, master_key, {**CHAT, "stream": True})
    assert response.status_code == 502
    assert error_of(response)["code"] == "upstream_response_too_large"


def test_the_bounds_hold_on_httpx_s_own_transport(make_client, scripted_upstream, master_key):
    config = relay_config(
        scripted_upstream.base_url, timeout=1.0, idle_timeout=0.4, max_response_size=MiB
    )
    config["server"] = {"http_transport": "httpx"}
    gw = make_client(config, plugins=[relay])
    scripted_upstream.script(
        Reply.drip(COMPLETION, interval=0.2),
        Reply.sse([chunk("a"), chunk("never")], hang_after=1),
        Reply(events=[b"{", *([b" " * MiB] * 3)], headers={"content-type": "application/json"}),
    )
    started = time.monotonic()
    assert post(gw, master_key).status_code == 504
    assert time.monotonic() - started < 3.5
    events = sse_events(post(gw, master_key, {**CHAT, "stream": True}))
    assert b'"content":"a"' in events[0]
    assert stream_error(events)["code"] == "upstream_timeout"
    assert error_of(post(gw, master_key))["code"] == "upstream_response_too_large"
