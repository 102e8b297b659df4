"""plugbay._replay: a completion as a stream and a stream as a completion, both ways."""

from __future__ import annotations

import msgspec
import pytest

from plugbay._replay import StreamAssembler, replay_events
from plugbay.schemas import Usage

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello there", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        },
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                    }
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        },
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    "system_fingerprint": "fp_1",
}


def decoded(events: list[bytes]) -> list[dict]:
    return [msgspec.json.decode(e.removeprefix(b"data: ")) for e in events]


def chunk(delta: dict, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c", "created": 1, "model": "m", "choices": [choice]}
    return b"data: " + msgspec.json.encode(body) + b"\n\n"


def test_replay_is_a_well_formed_stream_of_the_same_answer():
    events = replay_events(msgspec.json.encode(COMPLETION), include_usage=True)
    assert all(e.startswith(b"data: {") for e in events)
    assert all(e.endswith(b"\n\n") for e in events)
    chunks = decoded(events)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}
    finishes = {
        choice["index"]: choice["finish_reason"]
        for c in chunks
        for choice in c["choices"]
        if choice["finish_reason"]
    }
    assert finishes == {0: "stop", 1: "tool_calls"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] == 12
    assert "usage" not in decoded(replay_events(msgspec.json.encode(COMPLETION)))[-1]


def test_a_replayed_stream_assembles_back_into_the_completion():
    assembler = StreamAssembler()
    for event in replay_events(msgspec.json.encode(COMPLETION), include_usage=True):
        assembler.feed(event[:7])  # events may straddle reads
        assembler.feed(event[7:])
    assembler.feed(b"data: [DONE]\n\n")
    rebuilt = msgspec.json.decode(assembler.result())
    assert rebuilt["choices"] == COMPLETION["choices"]
    assert rebuilt["usage"] == COMPLETION["usage"]
    assert rebuilt["object"] == "chat.completion"
    assert rebuilt["system_fingerprint"] == "fp_1"


def test_assembler_joins_deltas_and_tool_call_fragments():
    assembler = StreamAssembler()
    call = {"index": 0, "id": "call_9", "type": "function"}
    for data in (
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
        chunk({}, "tool_calls"),
    ):
        assembler.feed(data)
    result = msgspec.json.decode(assembler.result(Usage(1, 2, 3)))
    message = result["choices"][0]["message"]
    assert message["content"] == "Hello"
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}
    assert message["tool_calls"][0]["id"] == "call_9"
    assert result["choices"][0]["finish_reason"] == "tool_calls"
    assert result["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


@pytest.mark.parametrize(
    "tail",
    [
        b"",  # no finish reason: the stream was cut short
        b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
        b"data: {not json\n\n",
    ],
)
def test_incomplete_or_failed_streams_are_not_stored(tail):
    assembler = StreamAssembler()
    assembler.feed(chunk({"content": "x"}))
    assembler.feed(tail)
    assert assembler.result() is None
