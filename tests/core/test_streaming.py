"""Streams are relayed chunk by chunk, end with [DONE], and stop upstream when the client leaves."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import msgspec
import pytest

from plugbay.testing import EventRecorder, Reply
from tests.core.support import CHAT, relay, relay_config


def chunk(text: str, finish: str | None = None) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "upstream-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def gw(make_gateway, scripted_upstream, recorder):
    return make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay, recorder])


@pytest.fixture
def http(gw, master_key):
    with httpx.Client(
        base_url=gw.url, headers={"authorization": f"Bearer {master_key}"}, timeout=30
    ) as client:
        yield client


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_first_chunk_arrives_while_upstream_holds_the_rest(http, scripted_upstream):
    scripted_upstream.script(
        Reply.sse(
            [chunk("first"), chunk(" second"), chunk(" never"), b"data: [DONE]\n\n"], hang_after=2
        )
    )
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        seen = b""
        lines = response.iter_lines()  # a read timeout (30 s) here means the gateway buffered
        while b"second" not in seen:
            seen += next(lines).encode()
        assert b'"model":"public"' in seen
        (upstream,) = scripted_upstream.requests
        assert not upstream.done.is_set()  # the upstream is still holding the rest
    # Leaving cancels the upstream request.
    assert upstream.done.wait(30)
    assert upstream.disconnected


def test_chunks_are_relayed_as_they_arrive(http, scripted_upstream):
    events = [chunk(f"w{i} ") for i in range(4)] + [b"data: [DONE]\n\n"]
    scripted_upstream.script(Reply.sse(events, interval=0.5))
    arrivals: list[float] = []
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    # Buffered, they would arrive together; relayed, they spread over the upstream's 1.5 s
    # (compared loosely: a loaded machine may hold back the first for a while).
    assert arrivals[-1] - arrivals[0] > 0.5, arrivals


def test_client_disconnect_cancels_a_silent_upstream(http, scripted_upstream, recorder):
    # The upstream sends headers and one chunk, then nothing: only a watcher on the client
    # connection can notice the client left.
    scripted_upstream.script(Reply.sse([chunk("only"), chunk("never")], hang_after=1))
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        next(response.iter_lines())
    (upstream,) = scripted_upstream.requests
    assert upstream.done.wait(30), "the upstream request was not cancelled"
    assert upstream.disconnected
    wait_until(lambda: len(recorder.events) == 1)
    assert recorder.events[0].status == 499
    assert recorder.events[0].error_code == "client_disconnected"
    assert recorder.events[0].stream is True


def test_nothing_leaks_after_many_disconnects(http, scripted_upstream, recorder, gw):
    http.post("/v1/chat/completions", json=CHAT)  # warm the pool
    wait_until(lambda: len(recorder.events) == 1)
    baseline = recorder.tasks()
    for _ in range(10):
        scripted_upstream.script(Reply.sse([chunk("x"), chunk("never")], hang_after=1))
        with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            next(response.iter_lines())
    scripted_upstream.wait_for(11)
    assert all(r.disconnected for r in scripted_upstream.requests[1:])
    wait_until(lambda: len(recorder.events) == 11)
    wait_until(lambda: recorder.tasks() <= baseline)
    assert gw.gateway._tasks == set()
    # The worker still answers, streaming and not.
    assert http.post("/v1/chat/completions", json=CHAT).json()["model"] == "public"
    body = http.post("/v1/chat/completions", json={**CHAT, "stream": True}).content
    assert body.endswith(b"data: [DONE]\n\n")


def test_upstream_breaking_mid_stream_ends_with_an_error_event_and_done(http, scripted_upstream):
    scripted_upstream.script(Reply.sse([chunk("a"), chunk(" b")], drop=True))
    response = http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert response.status_code == 200
    events = [e for e in response.content.split(b"\n\n") if e]
    assert b'"content":"a"' in events[0]
    assert events[-1] == b"data: [DONE]"
    error = msgspec.json.decode(events[-2].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_upstream_silence_mid_stream_times_out(make_gateway, scripted_upstream, master_key):
    gw = make_gateway(relay_config(scripted_upstream.base_url, timeout=2), plugins=[relay])
    scripted_upstream.script(Reply.sse([chunk("a"), chunk("never")], hang_after=1))
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers={"authorization": f"Bearer {master_key}"},
        timeout=30,
    )
    events = [e for e in response.content.split(b"\n\n") if e]
    assert b'"content":"a"' in events[0]
    assert b'"error"' in events[-2]
    assert events[-1] == b"data: [DONE]"
    assert response.elapsed.total_seconds() < 20  # the entry's 2 s, not the upstream's hour
