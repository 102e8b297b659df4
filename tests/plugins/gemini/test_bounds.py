"""The Gemini adapters get the core's bounds on upstream calls (total deadline, idle stream,
size) and the toolkit's checks on what comes back, through a gateway of their own."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from gemini_wire import GENERATE, PUBLIC, STREAM, answer, gemini_config, gemini_sse

import plugbay_gemini
from plugbay.testing import EventRecorder, Reply, RunningGateway, ScriptedUpstream

MESSAGES: Any = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def gemini(make_gateway: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder) -> Any:
    def make(**provider: Any) -> openai.OpenAI:
        config = gemini_config(scripted_upstream.url, **provider)
        gateway: RunningGateway = make_gateway(config, plugins=[plugbay_gemini, recorder])
        client: openai.OpenAI = gateway.openai(timeout=30)
        return client

    return make


def stream_until_error(client: openai.OpenAI) -> tuple[list[str], openai.APIError]:
    texts: list[str] = []
    stream = client.chat.completions.create(model=PUBLIC, messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError) as caught:
        collect(stream, texts)
    return texts, caught.value


def collect(stream: Any, texts: list[str]) -> None:
    for part in stream:
        texts.extend(c.delta.content or "" for c in part.choices)


def test_a_dripping_answer_is_504_at_the_deadline(
    gemini: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder
) -> None:
    client = gemini(timeout=1.0)
    body = json.dumps(answer([{"text": "Hi"}]), indent=2).encode()
    scripted_upstream.script(Reply.drip(body, interval=0.2), path=GENERATE)
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert 0.95 < time.monotonic() - started < 3.5
    assert recorder.wait_for(1)[0].status == 504


def test_an_idle_stream_ends_with_an_error_after_its_chunks(
    gemini: Any, scripted_upstream: ScriptedUpstream
) -> None:
    client = gemini(idle_timeout=0.4)
    events = [answer([{"text": "Hel"}], None), answer([{"text": "lo"}], "STOP")]
    scripted_upstream.script(gemini_sse(events, hang_after=1), path=STREAM)
    started = time.monotonic()
    texts, error = stream_until_error(client)
    assert texts == ["", "Hel"]
    assert error.code == "upstream_timeout"
    assert "silent for 0.4 s" in error.message
    assert time.monotonic() - started < 4


def test_a_malformed_event_mid_stream_ends_it_after_the_events_before(
    gemini: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder
) -> None:
    client = gemini()
    events = [
        answer([{"text": "Hel"}], None),
        answer([{"text": "lo"}], None),
        b'data: {"candidates": [{"content": {"parts": [{"te\r\n\r\n',
        answer([{"text": "!"}], "STOP"),
    ]
    scripted_upstream.script(gemini_sse(events), path=STREAM)
    texts, error = stream_until_error(client)
    assert texts == ["", "Hel", "lo"]
    assert error.code == "upstream_invalid_response"
    assert recorder.wait_for(1)[0].status == 502


def test_an_event_of_the_wrong_shape_is_an_error_too(
    gemini: Any, scripted_upstream: ScriptedUpstream
) -> None:
    client = gemini()
    events = [answer([{"text": "Hel"}], None), b"data: [1, 2]\r\n\r\n"]
    scripted_upstream.script(gemini_sse(events), path=STREAM)
    texts, error = stream_until_error(client)
    assert texts == ["", "Hel"]
    assert error.code == "upstream_invalid_response"


def test_an_oversize_answer_is_502(gemini: Any, scripted_upstream: ScriptedUpstream) -> None:
    client = gemini(max_response_size=65536)
    body = json.dumps(answer([{"text": "x" * 100_000}])).encode()
    unsized = Reply(events=[body], headers={"content-type": "application/json"})  # chunked
    scripted_upstream.script(unsized, path=GENERATE)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=PUBLIC, messages=MESSAGES)
    assert caught.value.code == "upstream_response_too_large"
