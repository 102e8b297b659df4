"""``streamGenerateContent?alt=sse`` → OpenAI ``chat.completion.chunk`` events.

Each Gemini event is a whole ``GenerateContentResponse`` holding the next parts of each
candidate. Text parts become ``content`` deltas; a ``functionCall`` arrives whole and becomes
one ``tool_calls`` delta carrying index, id, name and arguments; the candidate's
``finishReason`` becomes the choice's finish chunk. ``usageMetadata`` is cumulative: the last
one is the stream's usage. A stream that ends before every candidate finished, an error
event, and a failed finish reason are raised as errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from plugbay import UpstreamError
from plugbay.wire import ChunkWriter
from plugbay_gemini._errors import INVALID_RESPONSE, status_error
from plugbay_gemini._native import GenerateContentResponse, decode_response
from plugbay_gemini._response import ToolCallIds, completion_id, finish_reason, tool_call, usage

if TYPE_CHECKING:
    from plugbay import ChatStream
    from plugbay.schemas import Usage

__all__ = ["GeminiEvents"]


class _Choice:
    __slots__ = ("calls", "finished", "started", "text")

    def __init__(self) -> None:
        self.started = False
        self.finished = False
        self.text = False
        self.calls = 0


class GeminiEvents:
    """Turns Gemini's stream events into OpenAI's (pure: no I/O); what
    :func:`plugbay.wire.relay` drives. ``stream``, when given, gets the usage as it comes."""

    def __init__(self, model: str, *, wants_usage: bool, stream: ChatStream | None = None) -> None:
        self.model = model
        self.wants_usage = wants_usage
        self.stream = stream
        self.usage: Usage | None = None
        self.done = False  # Gemini ends its stream itself: read it to the end
        self._choices: dict[int, _Choice] = {}
        self._ids: ToolCallIds | None = None
        self._writer = ChunkWriter(model, wants_usage=wants_usage)

    def _start(self, response_id: str | None) -> None:
        self._ids = ToolCallIds(response_id)
        self._writer.set_id(completion_id(response_id))

    def feed(self, data: bytes, out: list[bytes]) -> None:
        """Decode one event's data and translate it (see :meth:`feed_event`)."""
        if not data.strip():
            return
        try:
            decoded = decode_response(data)
        except msgspec.MsgspecError:
            raise UpstreamError(
                "Gemini sent an event that is not valid JSON.", code=INVALID_RESPONSE
            ) from None
        try:
            self.feed_event(decoded, out)
        finally:
            if self.stream is not None:
                self.stream.usage = self.usage

    def feed_event(self, event: GenerateContentResponse, out: list[bytes]) -> None:
        """Append the OpenAI events for one Gemini event to ``out``.

        Raises for an error event or a failed finish, after appending what came before it.
        """
        if event.error is not None:
            raise status_error(event.error)
        if self._ids is None:
            self._start(event.response_id)
        assert self._ids is not None
        writer = self._writer
        if event.usage_metadata is not None:
            self.usage = usage(event.usage_metadata)
        feedback = event.prompt_feedback
        if not event.candidates and feedback is not None and feedback.block_reason:
            # The prompt was blocked: one empty, filtered choice.
            state = self._choices.setdefault(0, _Choice())
            if not state.finished:
                if not state.started:
                    state.started = True
                    out.append(writer.role(""))
                out.append(writer.finish("content_filter"))
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
                    delta: dict[str, Any] = {
                        "tool_calls": [{"index": state.calls, **tool_call(part, call_id)}]
                    }
                    state.calls += 1
                    if state.started:
                        out.append(writer.chunk(delta, None, index))
                    else:
                        state.started = True
                        out.append(writer.opening(delta, index))
                elif part.text:
                    if not state.started:
                        state.started = True
                        out.append(writer.role(None if part.thought else "", index))
                    if part.thought:
                        out.append(writer.reasoning(part.text, index))
                    else:
                        state.text = True
                        out.append(writer.content(part.text, index))
            if candidate.finish_reason:
                reason = finish_reason(candidate, state.calls > 0)
                if not state.started:
                    state.started = True
                    out.append(writer.role("", index))
                elif not state.text and not state.calls:
                    # Only thoughts came: the answer is empty, as the whole answer says.
                    out.append(writer.content("", index))
                out.append(writer.finish(reason, index))
                state.finished = True

    def end(self, out: list[bytes]) -> None:
        """Append the events after the last Gemini event; raises if the answer is incomplete."""
        if not self._choices or not all(state.finished for state in self._choices.values()):
            raise UpstreamError(
                "Gemini ended the stream before the answer was complete.",
                code="upstream_incomplete",
            )
        if self.wants_usage:
            out.append(self._writer.usage(self.usage if self.usage is not None else usage(None)))
