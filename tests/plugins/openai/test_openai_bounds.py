"""plugbay-openai against upstreams that drip, stall, lie or overflow: real HTTP on 127.0.0.1,
the official openai SDK on the client side where it fits.

The adapter relays bytes; every answer and event is still checked (decoded once) before it
is relayed as a success, and relayed as the upstream wrote it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgspec
import openai
import pytest

import plugbay_openai
from plugbay.testing import EventRecorder, Reply

MESSAGES: Any = [{"role": "user", "content": "hi"}]
MiB = 1024 * 1024


def completion(model: str = "gpt-x") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def chunk(text: str, model: str = "gpt-x") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def event(payload: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


ERROR = {"error": {"message": "The server had an error", "type": "server_error", "code": "busy"}}


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def gateway(make_gateway, scripted_upstream, recorder):
    def make(**provider: Any):
        config = {
            "providers": [
                {
                    "name": "up",
                    "type": "openai",
                    "base_url": scripted_upstream.base_url,
                    "api_key": "sk-upstream",
                    **provider,
                }
            ],
            "models": [{"name": "public", "provider": "up", "upstream_model": "gpt-x"}],
        }
        return make_gateway(config, plugins=[plugbay_openai, recorder])

    return make


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    return gateway().openai()


def raw(gw, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "public", "messages": MESSAGES, **body},
        headers={"authorization": f"Bearer {gw.api_key}"},
        timeout=30,
    )


def stream_until_error(client: openai.OpenAI) -> tuple[list[str], openai.APIError]:
    """The content deltas a stream delivered, and the error it ended with."""
    texts: list[str] = []
    stream = client.chat.completions.create(model="public", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        collect(stream, texts)
    return texts, caught.value


def collect(stream: Any, texts: list[str]) -> None:
    for part in stream:
        texts.extend(c.delta.content or "" for c in part.choices)


# --- time ------------------------------------------------------------------------------------


def test_a_dripping_answer_is_504_at_the_deadline(gateway, scripted_upstream, recorder):
    client = gateway(timeout=1.0).openai(timeout=30)
    scripted_upstream.script(Reply.drip(completion(), interval=0.2))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="public", messages=MESSAGES)
    elapsed = time.monotonic() - started
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert 0.95 < elapsed < 3.5, elapsed
    assert recorder.wait_for(1)[0].status == 504


def test_an_idle_stream_ends_with_an_error_after_its_chunks(gateway, scripted_upstream):
    client = gateway(timeout=60, idle_timeout=0.4).openai()
    scripted_upstream.script(Reply.sse([chunk("a"), chunk(" b"), chunk("never")], hang_after=2))
    started = time.monotonic()
    texts, error = stream_until_error(client)
    assert texts == ["a", " b"]
    assert error.code == "upstream_timeout"
    assert time.monotonic() - started < 4


def test_a_stream_slow_to_start_is_504(gateway, scripted_upstream):
    client = gateway(timeout=60, first_byte_timeout=0.4).openai()
    scripted_upstream.script(Reply.sse([chunk("a")], delay=10))
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="public", messages=MESSAGES, stream=True)
    assert caught.value.status_code == 504


# --- a 200 that is not a success -------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        msgspec.json.encode(completion())[:-20],  # cut short
        b"<html><body>Bad gateway</body></html>",
        b"",
        b"[1, 2, 3]",
        b'"just a string"',
    ],
    ids=["truncated", "html", "empty", "array", "string"],
)
def test_a_200_that_is_not_a_json_answer_is_502(gateway, scripted_upstream, recorder, body):
    client = gateway().openai()
    scripted_upstream.script(Reply(status=200, body=body, headers={"content-type": "text/html"}))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="public", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_invalid_response"
    event = recorder.wait_for(1)[0]
    assert (event.status, event.error_code) == (502, "upstream_invalid_response")


def test_a_200_embeddings_answer_that_is_not_json_is_502(gateway, scripted_upstream):
    client = gateway().openai()
    scripted_upstream.script(Reply(status=200, body=b'{"object": "list", "data": [{"emb'))
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model="public", input="x")
    assert caught.value.code == "upstream_invalid_response"


def test_an_answer_is_relayed_byte_for_byte(gateway, scripted_upstream):
    """Checked, not re-encoded: spacing, key order, escapes and unknown members survive."""
    gw = gateway()
    body = (
        b'{\n  "model": "gpt-x",\n  "zeta": 1.50,\n  "id": "c\\u00e9",\n  "choices": [],\n'
        b'  "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}\n}\n'
    )
    scripted_upstream.script(Reply.json(body))
    response = raw(gw, {})
    assert response.content == body.replace(b'"model": "gpt-x"', b'"model": "public"')


def test_an_answer_whose_usage_has_another_shape_is_still_relayed(gateway, scripted_upstream):
    """Only the shape of the whole is checked: odd members of a JSON object pass."""
    gw = gateway()
    odd = {**completion(), "usage": {"prompt_tokens": None, "total_tokens": "many"}}
    scripted_upstream.script(Reply.json(odd))
    response = raw(gw, {})
    assert response.status_code == 200
    assert response.json()["usage"] == odd["usage"]


# --- streams that break their format ---------------------------------------------------------


def test_a_malformed_event_mid_stream_ends_it_after_the_events_before(gateway, scripted_upstream):
    client = gateway().openai()
    scripted_upstream.script(
        Reply.sse(
            [
                chunk("one"),
                chunk(" two"),
                b'data: {"id": "chatcmpl-1", "choices": [{"delta": {"cont\n\n',
                chunk(" three"),
                b"data: [DONE]\n\n",
            ]
        )
    )
    texts, error = stream_until_error(client)
    assert texts == ["one", " two"]
    assert error.code == "upstream_invalid_response"
    assert "could not be read" in error.message


@pytest.mark.parametrize(
    "bad",
    [b"data: not json at all\n\n", b"data: [1, 2]\n\n", b'data: {"a": 1}} \n\n'],
    ids=["text", "array", "trailing"],
)
def test_a_malformed_event_on_the_wire(gateway, scripted_upstream, recorder, bad):
    gw = gateway()
    scripted_upstream.script(Reply.sse([chunk("one"), bad, chunk("two")]))
    events = [e for e in raw(gw, {"stream": True}).content.split(b"\n\n") if e]
    assert len(events) == 3
    assert b'"content":"one"' in events[0]
    assert b'"model":"public"' in events[0]
    error = msgspec.json.decode(events[1].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_invalid_response"
    assert set(error) == {"message", "type", "param", "code"}
    assert events[2] == b"data: [DONE]"
    assert recorder.wait_for(1)[0].status == 502


def test_an_event_cut_off_by_the_end_of_the_stream_is_an_error(gateway, scripted_upstream):
    client = gateway().openai()
    scripted_upstream.script(Reply.sse([chunk("one"), b'data: {"id": "chatcmpl-1", "cho']))
    texts, error = stream_until_error(client)
    assert texts == ["one"]
    assert error.code == "upstream_invalid_response"


@pytest.mark.parametrize("warm", [False, True], ids=["first-read", "later-read"])
def test_chunks_and_an_error_in_one_read_all_arrive_before_the_error(
    gateway, scripted_upstream, warm
):
    """One network read holding chunks and an ``{"error": ...}`` event: the chunks reach the
    client, then the error (they were dropped when the error raised)."""
    client = gateway().openai()
    burst = event(chunk("b")) + event(chunk(" c")) + event(ERROR) + event(chunk(" never"))
    events = [event(chunk("a")), burst] if warm else [burst]
    scripted_upstream.script(Reply.sse(events, interval=0.05))
    texts, error = stream_until_error(client)
    assert texts == (["a", "b", " c"] if warm else ["b", " c"])
    assert (error.message, error.code) == ("The server had an error", "busy")


def test_a_usage_chunk_the_client_did_not_ask_for_is_dropped_from_a_burst(
    gateway, scripted_upstream, recorder
):
    gw = gateway()
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    burst = (
        event(chunk("a"))
        + event(chunk(" b"))
        + event({**chunk(""), "choices": [], "usage": usage})
        + b": a comment\n\n"
        + b"data: [DONE]\n\n"
    )
    scripted_upstream.script(Reply.sse([burst]))
    content = raw(gw, {"stream": True}).content
    assert content == (
        event(chunk("a", "public")) + event(chunk(" b", "public")) + b": a comment\n\n"
        b"data: [DONE]\n\n"
    )
    assert recorder.wait_for(1)[0].usage.total_tokens == 5


def test_stream_events_are_relayed_byte_for_byte(gateway, scripted_upstream):
    gw = gateway()
    odd = b'data: {"model": "gpt-x", "id": "c\\u00e9", "choices": [{"delta": {}}], "z": 1.50}\n\n'
    crlf = b'data: {"model":"gpt-x","choices":[]}\r\n\r\n'
    scripted_upstream.script(Reply.sse([odd, crlf, b"data: [DONE]\n\n"]))
    content = raw(gw, {"stream": True}).content
    assert content == (
        odd.replace(b'"model": "gpt-x"', b'"model": "public"')
        + b'data: {"model":"public","choices":[]}\n\n'
        + b"data: [DONE]\n\n"
    )


# --- size ------------------------------------------------------------------------------------


def test_an_oversize_answer_is_502(gateway, scripted_upstream):
    client = gateway(max_response_size=MiB).openai()
    big = {**completion(), "pad": "x" * (2 * MiB)}
    scripted_upstream.script(
        Reply.json(big),  # declared: refused before reading
        Reply(events=[msgspec.json.encode(big)], headers={"content-type": "application/json"}),
    )
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="public", messages=MESSAGES)
        assert caught.value.code == "upstream_response_too_large"


def test_an_oversize_stream_event_is_an_error(gateway, scripted_upstream):
    client = gateway(max_response_size=MiB).openai()
    scripted_upstream.script(
        Reply.sse([chunk("a"), event({**chunk("b"), "pad": "x" * (2 * MiB)}), chunk("c")])
    )
    texts, error = stream_until_error(client)
    assert texts == ["a"]
    assert error.code == "upstream_response_too_large"


# --- the client leaves -----------------------------------------------------------------------


def test_a_client_timing_out_cancels_the_upstream_call(gateway, scripted_upstream, recorder):
    """The SDK gives up (its own timeout) and hangs up: the gateway stops the upstream call
    then and there, and records 499."""
    gw = gateway(timeout=60)
    scripted_upstream.script(Reply.hang(30))
    client = gw.openai(timeout=1.0)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="public", messages=MESSAGES)
    (upstream,) = scripted_upstream.wait_arrived(1)
    assert upstream.done.wait(5)
    assert upstream.disconnected
    event = recorder.wait_for(1)[0]
    assert (event.status, event.error_code) == (499, "client_disconnected")
