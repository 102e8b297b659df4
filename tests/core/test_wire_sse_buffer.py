from __future__ import annotations

import random
import time

import msgspec
import pytest

from plugbay._errors import UpstreamError
from plugbay.wire import SSEBuffer, event_data, json_answer

STREAM = b'event: a\r\ndata: {"n":1}\r\n\r\nevent: b\r\ndata: {"n":2}\r\n\r\n'
EXPECTED = [b'event: a\ndata: {"n":1}', b'event: b\ndata: {"n":2}']


@pytest.mark.parametrize("size", range(1, len(STREAM) + 1))
def test_crlf_events_whatever_the_reads(size: int) -> None:
    buffer = SSEBuffer()
    events: list[bytes] = []
    for start in range(0, len(STREAM), size):
        events += buffer.feed(STREAM[start : start + size])
    events += buffer.flush()
    assert events == EXPECTED


@pytest.mark.parametrize("size", range(1, len(STREAM) + 1))
def test_blocks_whatever_the_reads(size: int) -> None:
    buffer = SSEBuffer()
    blocks = b"".join(buffer.feed_block(STREAM[i : i + size]) for i in range(0, len(STREAM), size))
    assert blocks == b"".join(event + b"\n\n" for event in EXPECTED)
    assert buffer.flush() == []


PIECES = [b"a", b"\n", b"\r", b"\r\n", b"data: x", b"\n\n", b"\r\n\r\n", b":", b'{"k":1}']


def meaning(events: list[bytes]) -> list[bytes]:
    """Events as an SSE parser sees them: blank lines before an event, or empty events, are
    nothing."""
    return [event.lstrip(b"\n") for event in events if event.lstrip(b"\n")]


def test_any_stream_any_reads_property() -> None:
    """Random streams cut at random places read as the whole stream does (seeded)."""
    rng = random.Random(20261124)
    for _ in range(5000):
        stream = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 30)))
        cuts = sorted(rng.sample(range(len(stream) + 1), k=min(len(stream) + 1, rng.randint(0, 6))))
        reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        whole = stream.replace(b"\r\n", b"\n").split(b"\n\n")
        tail = whole.pop().strip()
        buffer = SSEBuffer()
        events = [event for read in reads for event in buffer.feed(read)]
        assert meaning(events) == meaning(whole), (stream, reads)
        assert buffer.flush() == ([tail] if tail else []), (stream, reads)
        buffer = SSEBuffer()
        block = b"".join(buffer.feed_block(read) for read in reads)
        assert not block or block.endswith(b"\n\n")
        assert meaning(block.split(b"\n\n")) == meaning(whole), (stream, reads)


def test_an_unterminated_event_over_the_limit_raises() -> None:
    buffer = SSEBuffer(limit=100)
    assert buffer.feed(b"data: " + b"x" * 50) == []
    with pytest.raises(UpstreamError) as info:
        buffer.feed(b"x" * 50)
    assert info.value.code == "upstream_response_too_large"
    # Whole events of any size pass: the limit is on what waits for its end.
    buffer = SSEBuffer(limit=100)
    assert buffer.feed(b"data: " + b"x" * 500 + b"\n\ndata: y") == [b"data: " + b"x" * 500]


def test_a_long_event_in_many_reads_is_not_copied_over_and_over() -> None:
    """64 KiB reads of one 32 MiB event: linear (pieces joined once), not quadratic."""
    buffer = SSEBuffer()
    piece = b"x" * 65536
    started = time.perf_counter()
    for _ in range(512):
        assert buffer.feed_block(piece) == b""
    block = buffer.feed_block(b"\n\n")
    assert len(block) == 512 * 65536 + 2
    # Quadratic, this copies ~8 GiB: many seconds even on a fast machine.
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (b'data: {"a":1}', b'{"a":1}'),
        (b'data:{"a":1}', b'{"a":1}'),
        (b'event: x\ndata: {"a":\ndata: 1}', b'{"a":\n1}'),
        (b": keep-alive", None),
        (b"retry: 10", None),
        (b"data: [DONE]", b"[DONE]"),
    ],
)
def test_event_data(event: bytes, data: bytes | None) -> None:
    assert event_data(event) == data


class _Answer(msgspec.Struct):
    id: str | None = None


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>", b'{"id": "x", "cho', b"[1, 2]", b'"text"', b"null", b'{"id": 1}', b"\xff"],
)
def test_json_answer_refuses_what_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(UpstreamError) as info:
        json_answer(body, msgspec.json.Decoder(_Answer).decode)
    assert (info.value.status_code, info.value.code) == (502, "upstream_invalid_response")


def test_json_answer_decodes_once() -> None:
    assert json_answer(b'{"id": "x", "rest": [1]}', msgspec.json.Decoder(_Answer).decode).id == "x"
