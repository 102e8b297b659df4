"""``streamGenerateContent?alt=sse`` → OpenAI ``chat.completion.chunk`` events.

Each Gemini event is a whole ``GenerateContentResponse`` holding the next parts of each
candidate. Text parts become ``content`` deltas; a ``functionCall`` arrives whole and becomes
one ``tool_calls`` delta carrying index, id, name and arguments; the candidate's
``finishReason`` becomes the choice's finish chunk. ``usageMetadata`` is cumulative: the last
one is the stream's usage. A stream that ends before every candidate finished, an error
event, and a failed finish reason are raised as errors.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import msgspec

from plugbay import ChatStream, PlugbayError, UpstreamError
from plugbay.schemas import Usage
from plugbay.wire import DEFAULT_MAX_RESPONSE_SIZE, SSEBuffer
from plugbay_gemini._errors import INVALID_RESPONSE, status_error
from plugbay_gemini._native import GenerateContentResponse, decode_response
from plugbay_gemini._response import (
    ToolCallIds,
    completion_id,
    finish_reason,
    tool_call,
    usage,
    usage_json,
)

__all__ = ["StreamTranslator", "relay"]

_encode = msgspec.json.Encoder().encode


class _Choice:
    __slots__ = ("calls", "finished", "started", "text")

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.text = False
        self.calls = 0


class StreamTranslator:
    """Turns decoded Gemini events into OpenAI SSE events (pure: no I/O)."""

    def __init__(self, model: str, *, wants_usage: bool) -> None:
        self.model = model
        self.wants_usage = wants_usage
        self.usage: Usage | None = None
        self._choices: dict[int, _Choice] = {}
        self._ids: ToolCallIds | None = None
        self._head = b""
        self._tail = b',"usage":null}\n\n' if wants_usage else b"}\n\n"

    def _start(self, response_id: str | None) -> None:
        self._ids = ToolCallIds(response_id)
        head = {
            "id": completion_id(response_id),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
        }
        self._head = b"data: " + _encode(head)[:-1] + b',"choices":'

    def _chunk(self, index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._head + _encode([choice]) + self._tail

    def _role(self, index: int, state: _Choice, content: str | None) -> bytes:
        state.started = True
        delta = {"role": "assistant", "content": content, "refusal": None}
        return self._chunk(index, delta)

    def feed(self, event: GenerateContentResponse, out: list[bytes]) -> None:
        """Append the OpenAI events for one Gemini event to ``out``.

        Raises for an error event or a failed finish, after appending what came before it.
        """
        if event.error is not None:
            raise status_error(event.error)
        if self._ids is None:
            self._start(event.response_id)
        assert self._ids is not None
        if event.usage_metadata is not None:
            self.usage = usage(event.usage_metadata)
        feedback = event.prompt_feedback
        if not event.candidates and feedback is not None and feedback.block_reason:
            # The prompt was blocked: one empty, filtered choice.
            state = self._choices.setdefault(0, _Choice())
            if not state.finished:
                if not state.started:
                    out.append(self._role(0, state, ""))
                out.append(self._chunk(0, {}, "content_filter"))
                state.finished = True
        for candidate in event.candidates:
            index = candidate.index
            state = self._choices.setdefault(index, _Choice())
            if state.finished:
                continue
            for part in candidate.content.parts if candidate.content else ():
                call = part.function_call
                if call is not None:
                    call_id = self._ids.get(call, index, state.calls)
                    entry = {"index": state.calls, **tool_call(part, call_id)}
                    delta: dict[str, Any] = {"tool_calls": [entry]}
                    if not state.started:
                        state.started = True
                        delta = {"role": "assistant", "content": None, "refusal": None, **delta}
                    state.calls += 1
                    out.append(self._chunk(index, delta))
                elif part.text:
                    if not state.started:
                        out.append(self._role(index, state, None if part.thought else ""))
                    if part.thought:
                        out.append(self._chunk(index, {"reasoning_content": part.text}))
                    else:
                        state.text = True
                        out.append(self._chunk(index, {"content": part.text}))
            if candidate.finish_reason:
                reason = finish_reason(candidate, state.calls > 0)
                if not state.started:
                    out.append(self._role(index, state, ""))
                elif not state.text and not state.calls:
                    # Only thoughts came: the answer is empty, as the whole answer says.
                    out.append(self._chunk(index, {"content": ""}))
                out.append(self._chunk(index, {}, reason))
                state.finished = True

    def finish(self, out: list[bytes]) -> None:
        """Append the events after the last Gemini event; raises if the answer is incomplete."""
        if not self._choices or not all(state.finished for state in self._choices.values()):
            raise UpstreamError(
                "Gemini ended the stream before the answer was complete.",
                code="upstream_incomplete",
            )
        if self.wants_usage:
            tokens = self.usage if self.usage is not None else usage(None)
            out.append(self._head + b'[],"usage":' + _encode(usage_json(tokens)) + b"}\n\n")


def _data(event: bytes) -> bytes | None:
    """The ``data`` of one SSE event (its ``data:`` lines joined), or ``None``."""
    lines = [line[5:].lstrip(b" ") for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None


async def relay(
    response: httpx.Response,
    translator: StreamTranslator,
    stream: ChatStream,
    limit: int = DEFAULT_MAX_RESPONSE_SIZE,
) -> AsyncIterator[bytes]:
    """Read Gemini's SSE answer and yield OpenAI events as they come.

    Timeouts and a broken connection are raised by the core's upstream client as they
    happen; ``limit`` caps one event (the provider's ``max_response_size``).
    """
    buffer = SSEBuffer(limit)
    out: list[bytes] = []
    try:
        async for data in response.aiter_bytes():
            for event in buffer.feed(data):
                _translate(event, translator, stream, out)
            if out:
                yield b"".join(out)
                out.clear()
        for event in buffer.flush():
            _translate(event, translator, stream, out)
        translator.finish(out)
    except PlugbayError:
        if out:  # what came before the failure reaches the client first
            yield b"".join(out)
        raise
    if out:
        yield b"".join(out)


def _translate(
    event: bytes, translator: StreamTranslator, stream: ChatStream, out: list[bytes]
) -> None:
    data = _data(event)
    if data is None or not data.strip():
        return
    try:
        decoded = decode_response(data)
    except msgspec.MsgspecError:
        raise UpstreamError(
            "Gemini sent an event that is not valid JSON.", code=INVALID_RESPONSE
        ) from None
    try:
        translator.feed(decoded, out)
    finally:
        stream.usage = translator.usage
