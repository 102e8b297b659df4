"""The chunk writer, the relay loop and Usage.to_openai (plugbay.wire)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from plugbay import ChatStream, PlugbayError, UpstreamError
from plugbay.schemas import CompletionTokensDetails, PromptTokensDetails, Usage
from plugbay.wire import ChunkWriter, relay


def events(data: bytes) -> list[Any]:
    parts = data.split(b"\n\n")
    assert parts.pop() == b""
    assert all(part.startswith(b"data: ") for part in parts)
    return [json.loads(part[6:]) for part in parts]


class TestChunkWriter:
    def test_envelope_and_chunks(self) -> None:
        writer = ChunkWriter(
            "public", id="chatcmpl-1", created=7, extra={"system_fingerprint": "f"}
        )
        out = b"".join(
            [
                writer.role(""),
                writer.content("Hi"),
                writer.reasoning("hmm"),
                writer.tool_call(0, id="call_1", name="f", arguments=""),
                writer.tool_call(0, arguments='{"a":1}'),
                writer.finish("tool_calls"),
            ]
        )
        chunks = events(out)
        for chunk in chunks:
            assert list(chunk) == [
                "id",
                "object",
                "created",
                "model",
                "system_fingerprint",
                "choices",
            ]
            assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
                "chatcmpl-1",
                "chat.completion.chunk",
                7,
                "public",
            )
        assert [c["choices"][0]["delta"] for c in chunks] == [
            {"role": "assistant", "content": "", "refusal": None},
            {"content": "Hi"},
            {"reasoning_content": "hmm"},
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function",
                     "function": {"name": "f", "arguments": ""}}
                ]
            },
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]},
            {},
        ]  # fmt: skip
        assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 5 + ["tool_calls"]
        assert all(c["choices"][0]["logprobs"] is None for c in chunks)

    def test_opening_holds_the_role(self) -> None:
        writer = ChunkWriter("m")
        (chunk,) = events(writer.opening({"reasoning_content": "r"}, choice=2))
        assert chunk["choices"][0]["delta"] == {
            "role": "assistant",
            "content": None,
            "reasoning_content": "r",
            "refusal": None,
        }
        assert chunk["choices"][0]["index"] == 2

    def test_usage_null_on_every_chunk_then_the_usage_chunk(self) -> None:
        writer = ChunkWriter("m", wants_usage=True)
        writer.set_id("late-id")
        usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
        first, last = events(writer.content("x") + writer.usage(usage))
        assert first["usage"] is None
        assert first["id"] == last["id"] == "late-id"
        assert last["choices"] == []
        assert last["usage"] == usage.to_openai()
        assert "usage" not in events(ChunkWriter("m").content("x"))[0]


class TestUsageToOpenAI:
    def test_counts_always_details_when_set(self) -> None:
        assert Usage().to_openai() == {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
        }
        usage = Usage(
            prompt_tokens=10,
            completion_tokens=5,
            total_tokens=15,
            prompt_tokens_details=PromptTokensDetails(cached_tokens=None, cache_creation_tokens=4),
            completion_tokens_details=CompletionTokensDetails(accepted_prediction_tokens=1),
        )
        assert usage.to_openai() == {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 1},
        }

    def test_embeddings_shape(self) -> None:
        usage = Usage(prompt_tokens=4, total_tokens=4)
        assert usage.to_openai(embeddings=True) == {"prompt_tokens": 4, "total_tokens": 4}


class _Reads(httpx.AsyncByteStream):
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for read in self.reads:
            yield read


class _Upper:
    """A translator: each event's data, upper-cased; ``ERR`` raises, ``END`` completes."""

    def __init__(self) -> None:
        self.done = False
        self.seen: list[bytes] = []
        self.ended = False

    def feed(self, data: bytes, out: list[bytes]) -> None:
        self.seen.append(data)
        if data == b"ERR":
            raise UpstreamError("boom", code="boom")
        if data == b"END":
            self.done = True
            return
        out.append(data.upper() + b"\n\n")

    def end(self, out: list[bytes]) -> None:
        self.ended = True
        out.append(b"LAST\n\n")


def _run(reads: list[bytes], translator: _Upper) -> tuple[list[bytes], Exception | None]:
    async def main() -> tuple[list[bytes], Exception | None]:
        response = httpx.Response(200, stream=_Reads(reads))
        stream = ChatStream(relay(response, translator), aclose=response.aclose)
        got: list[bytes] = []
        try:
            async for batch in stream:
                got.append(batch)
        except UpstreamError as error:
            return got, error
        finally:
            await stream.aclose()
        return got, None

    return asyncio.run(main())


def test_events_before_an_error_in_the_same_read_are_delivered_first() -> None:
    translator = _Upper()
    got, error = _run(
        [b"data: a\n\n", b"data: b\n\ndata: c\n\ndata: ERR\n\ndata: d\n\n"], translator
    )
    assert got == [b"A\n\n", b"B\n\nC\n\n"]
    assert isinstance(error, UpstreamError)
    assert error.code == "boom"
    assert translator.seen == [b"a", b"b", b"c", b"ERR"]


def test_batches_per_read_and_end_is_called() -> None:
    translator = _Upper()
    got, error = _run([b"data: a\n", b"\n: comment\n\ndata: b\n\ndata: c"], translator)
    assert error is None
    # a ends in the second read, with b; c is an unterminated last event
    assert got == [b"A\n\nB\n\n", b"C\n\nLAST\n\n"]
    assert translator.ended


def test_done_stops_reading() -> None:
    translator = _Upper()
    got, error = _run([b"data: a\n\ndata: END\n\ndata: late\n\n", b"data: later\n\n"], translator)
    assert (got, error) == ([b"A\n\n"], None)
    assert translator.seen == [b"a", b"END"]
    assert not translator.ended


@pytest.mark.parametrize("limit", [8])
def test_an_oversized_event_is_an_error_after_what_came_before(limit: int) -> None:
    async def main() -> tuple[list[bytes], Exception | None]:
        response = httpx.Response(200, stream=_Reads([b"data: a\n\n", b"data: " + b"x" * 64]))
        got: list[bytes] = []
        try:
            async for batch in relay(response, _Upper(), limit):
                got.append(batch)
        except UpstreamError as error:
            return got, error
        return got, None

    got, error = asyncio.run(main())
    assert got == [b"A\n\n"]
    assert isinstance(error, UpstreamError)
    assert error.code == "upstream_response_too_large"


def test_a_chat_stream_is_built_in_one_step() -> None:
    async def make(stream: ChatStream) -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"
        stream.usage = Usage(total_tokens=1)

    async def main() -> ChatStream:
        stream = ChatStream.build(make, headers={"x-a": "1"})
        assert [chunk async for chunk in stream] == [b"data: {}\n\n"]
        await stream.aclose()
        return stream

    stream = asyncio.run(main())
    assert stream.usage == Usage(total_tokens=1)
    assert stream.headers == {"x-a": "1"}


class _Breaks(httpx.AsyncByteStream):
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"data: a\n\ndata: b"
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (httpx.ReadError("reset"), 502),
        (httpx.RemoteProtocolError("cut"), 502),
        (httpx.ReadTimeout("slow"), 504),
    ],
)
def test_an_unbounded_body_s_transport_errors_are_mapped(error: Exception, status: int) -> None:
    async def main() -> tuple[list[bytes], Exception | None]:
        response = httpx.Response(200, stream=_Breaks(error))
        got: list[bytes] = []
        try:
            async for batch in relay(response, _Upper()):
                got.append(batch)
        except PlugbayError as raised:
            return got, raised
        return got, None

    got, raised = asyncio.run(main())
    assert got == [b"A\n\n"]
    assert isinstance(raised, PlugbayError)
    assert raised.status_code == status


def test_other_exceptions_are_not_disguised() -> None:
    async def main() -> None:
        response = httpx.Response(200, stream=_Breaks(KeyError("bug")))
        async for _ in relay(response, _Upper()):
            pass

    with pytest.raises(KeyError):
        asyncio.run(main())
