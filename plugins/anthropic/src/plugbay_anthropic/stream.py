"""Messages API stream events → OpenAI ``chat.completion.chunk`` events.

Each content block is followed by its index: text deltas become ``content``, thinking deltas
``reasoning_content``, and every ``tool_use`` block one OpenAI tool call, numbered in order of
appearance, whose first delta carries ``id``, ``type`` and ``name`` and whose
``input_json_delta`` fragments are sent on as ``arguments`` as they come. ``message_delta``
holds the stop reason and cumulative usage; ``message_stop`` closes the answer with the
finish chunk and, if asked for, the usage chunk.

The answer opens as OpenAI's do: before text, a ``role`` chunk with ``content: ""``; before a
tool call (or reasoning), ``role`` and ``content: null`` in that first delta. So the openai
SDK rebuilds ``content`` exactly as the whole answer has it: text, else ``null`` when there
are tool calls, else ``""``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from plugbay import UpstreamError
from plugbay.wire import ChunkWriter, invalid_event
from plugbay_anthropic import wire
from plugbay_anthropic.errors import stream_error
from plugbay_anthropic.response import finish_reason, tool_arguments, usage

if TYPE_CHECKING:
    from plugbay import ChatRequest, ChatStream

__all__ = ["MessagesEvents"]

_TEXT, _THINKING, _TOOL, _JSON = "text", "thinking", "tool", "json"


class _Block:
    __slots__ = ("has_arguments", "kind", "tool_index")

    def __init__(self, kind: str, tool_index: int = -1, has_arguments: bool = False) -> None:
        self.kind = kind
        self.tool_index = tool_index
        self.has_arguments = has_arguments


class MessagesEvents:
    """Turns the Messages API's stream events into OpenAI's; what :func:`plugbay.wire.relay`
    drives."""

    def __init__(self, request: ChatRequest, json_tool: str | None, stream: ChatStream) -> None:
        self.wants_usage = request.client_wants_usage
        self.json_tool = json_tool
        self.stream = stream
        self.writer = ChunkWriter(request.public_model, wants_usage=self.wants_usage)
        self.blocks: dict[int, _Block] = {}
        self.tool_calls = 0
        self.stop_reason: str | None = None
        self.native_usage = wire.Usage()
        self.opened = False
        self.has_content = False
        self.done = False

    def _emit(self, delta: dict[str, Any], text: bool = False) -> list[bytes]:
        """``delta``, preceded by (or, for tool calls and reasoning, holding) the role."""
        if text:
            self.has_content = True
        writer = self.writer
        if self.opened:
            return [writer.chunk(delta)]
        self.opened = True
        if text:
            return [writer.role(""), writer.chunk(delta)]
        return [writer.opening(delta)]

    def _count(self, native: wire.Usage | None) -> None:
        if native is None:
            return
        mine = self.native_usage
        for field in wire.Usage.__struct_fields__:
            value = getattr(native, field)
            if value is not None:
                setattr(mine, field, value)
        self.stream.usage = usage(mine)

    def feed(self, data: bytes, out: list[bytes]) -> None:
        try:
            event = wire.decode_event(data)
        except msgspec.MsgspecError as exc:
            raise invalid_event(exc) from None
        out += self.feed_event(event)

    def end(self, out: list[bytes]) -> None:
        raise UpstreamError("The upstream stream ended before the answer was complete.")

    def feed_event(self, event: wire.Event) -> list[bytes]:
        kind = event.type
        if kind == "content_block_delta":
            return self._delta(event.index, event.delta)
        if kind == "content_block_start" and event.content_block is not None:
            return self._start(event.index, event.content_block)
        if kind == "content_block_stop":
            return self._stop(event.index)
        if kind == "message_start" and event.message is not None:
            return self._message_start(event.message)
        if kind == "message_delta":
            if event.delta is not None and event.delta.stop_reason is not None:
                self.stop_reason = event.delta.stop_reason
            self._count(event.usage)
            return []
        if kind == "message_stop":
            return self._finish()
        if kind == "error":
            error = event.error or wire.ErrorDetail()
            raise stream_error(error.type, error.message)
        return []  # ping, and event types added later

    def _message_start(self, message: wire.Answer) -> list[bytes]:
        self.writer.set_id(message.id)
        self._count(message.usage)
        if message.stop_reason is not None:
            self.stop_reason = message.stop_reason
        out: list[bytes] = []
        # A continued turn may arrive with finished blocks already in place.
        for index, block in enumerate(message.content):
            out += self._start(-1 - index, block)
            out += self._stop(-1 - index)
        return out

    def _start(self, index: int | None, block: wire.ContentBlock) -> list[bytes]:
        key = -1 if index is None else index
        kind = block.type
        if kind == "text":
            self.blocks[key] = _Block(_TEXT)
            return self._emit({"content": block.text}, text=True) if block.text else []
        if kind == "thinking":
            self.blocks[key] = _Block(_THINKING)
            return self._emit({"reasoning_content": block.thinking}) if block.thinking else []
        if kind != "tool_use":
            return []  # redacted thinking, server tools: nothing OpenAI can show
        arguments = tool_arguments(block.input)
        if arguments == "{}":
            arguments = ""  # the usual empty start; the deltas bring the arguments
        if self.json_tool is not None and block.name == self.json_tool:
            self.blocks[key] = _Block(_JSON, has_arguments=bool(arguments))
            return self._emit({"content": arguments}, text=True) if arguments else []
        tool_index = self.tool_calls
        self.tool_calls += 1
        self.blocks[key] = _Block(_TOOL, tool_index, bool(arguments))
        call = {
            "index": tool_index,
            "id": block.id,
            "type": "function",
            "function": {"name": block.name, "arguments": arguments},
        }
        return self._emit({"tool_calls": [call]})

    def _delta(self, index: int | None, delta: wire.Delta | None) -> list[bytes]:
        block = self.blocks.get(-1 if index is None else index)
        if block is None or delta is None:
            return []
        kind = delta.type
        if kind == "text_delta" and delta.text:
            return self._emit({"content": delta.text}, text=True)
        if kind == "thinking_delta" and delta.thinking:
            return self._emit({"reasoning_content": delta.thinking})
        if kind == "input_json_delta" and delta.partial_json:
            block.has_arguments = True
            if block.kind == _JSON:
                return self._emit({"content": delta.partial_json}, text=True)
            if block.kind == _TOOL:
                call = {"index": block.tool_index, "function": {"arguments": delta.partial_json}}
                return self._emit({"tool_calls": [call]})
        return []  # signature and citation deltas have no OpenAI counterpart

    def _stop(self, index: int | None) -> list[bytes]:
        block = self.blocks.get(-1 if index is None else index)
        if block is None or block.has_arguments:
            return []
        # A call without arguments streams none; the whole answer says `{}`.
        block.has_arguments = True
        if block.kind == _JSON:
            return self._emit({"content": "{}"}, text=True)
        if block.kind == _TOOL:
            call = {"index": block.tool_index, "function": {"arguments": "{}"}}
            return self._emit({"tool_calls": [call]})
        return []

    def _finish(self) -> list[bytes]:
        self.done = True
        counted = usage(self.native_usage)
        self.stream.usage = counted
        writer = self.writer
        out: list[bytes] = []
        if not self.opened:  # an empty answer
            self.opened = self.has_content = True
            out.append(writer.role(""))
        elif not self.has_content and not self.tool_calls:  # reasoning, and nothing else
            out += self._emit({"content": ""}, text=True)
        out.append(writer.finish(finish_reason(self.stop_reason, self.tool_calls > 0)))
        if self.wants_usage:
            out.append(writer.usage(counted))
        return out
