"""The Anthropic adapters get the core's bounds on upstream calls (total deadline, idle stream,
size) and the toolkit's checks on what comes back, through a gateway of their own."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from claude_gateway import API_KEY
from claude_wire import block, event, message, start, stream_reply, text, text_delta

import plugbay_anthropic
from plugbay.testing import EventRecorder, Reply, RunningGateway, ScriptedUpstream

HELLO: Any = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def claude(make_gateway: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder) -> Any:
    def make(**provider: Any) -> RunningGateway:
        config = {
            "providers": [
                {
                    "name": "anthropic",
                    "type": "anthropic",
                    "base_url": scripted_upstream.url,
                    "api_key": API_KEY,
                    **provider,
                }
            ],
            "models": [
                {"name": "claude", "provider": "anthropic", "upstream_model": "claude-sonnet-4-5"}
            ],
        }
        gateway: RunningGateway = make_gateway(config, plugins=[plugbay_anthropic, recorder])
        return gateway

    return make


def stream_until_error(client: openai.OpenAI) -> tuple[list[str], openai.APIError]:
    texts: list[str] = []
    stream = client.chat.completions.create(model="claude", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError) as caught:
        collect(stream, texts)
    return texts, caught.value


def collect(stream: Any, texts: list[str]) -> None:
    for part in stream:
        texts.extend(c.delta.content or "" for c in part.choices)


def test_a_dripping_answer_is_504_at_the_deadline(
    claude: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder
) -> None:
    client = claude(timeout=1.0).openai(timeout=30)
    scripted_upstream.script(Reply.drip(message([text("Hi")]), interval=0.2))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert 0.95 < time.monotonic() - started < 3.5
    assert recorder.wait_for(1)[0].status == 504


def test_an_idle_stream_ends_with_an_error_after_its_chunks(
    claude: Any, scripted_upstream: ScriptedUpstream
) -> None:
    client = claude(idle_timeout=0.4).openai()
    events = [
        start(),
        block(0, {"type": "text", "text": ""}),
        text_delta(0, "Hal"),
        {"type": "ping"},
    ]
    scripted_upstream.script(stream_reply(events, hang_after=3))
    started = time.monotonic()
    texts, error = stream_until_error(client)
    assert texts == ["", "Hal"]
    assert error.code == "upstream_timeout"
    assert time.monotonic() - started < 4


def test_a_malformed_event_mid_stream_ends_it_after_the_events_before(
    claude: Any, scripted_upstream: ScriptedUpstream, recorder: EventRecorder
) -> None:
    client = claude().openai()
    good = [start(), block(0, {"type": "text", "text": ""}), text_delta(0, "Hal")]
    scripted_upstream.script(
        Reply.sse(
            [event(e) for e in good]
            + [b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind\n\n']
            + [event(text_delta(0, "lo"))],
            headers={"content-type": "text/event-stream"},
        )
    )
    texts, error = stream_until_error(client)
    assert texts == ["", "Hal"]
    assert error.code == "upstream_invalid_response"
    assert recorder.wait_for(1)[0].status == 502


@pytest.mark.parametrize("body", [b'{"id": "msg_1", "type": "mess', b"<html>oops</html>"])
def test_a_200_that_is_not_a_message_is_502(
    claude: Any, scripted_upstream: ScriptedUpstream, body: bytes
) -> None:
    client = claude().openai()
    scripted_upstream.script(Reply(status=200, body=body))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.code == "upstream_invalid_response"


def test_an_oversize_answer_is_502(claude: Any, scripted_upstream: ScriptedUpstream) -> None:
    client = claude(max_response_size=65536).openai()
    scripted_upstream.script(Reply.json(message([text("x" * 100_000)])))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.code == "upstream_response_too_large"
