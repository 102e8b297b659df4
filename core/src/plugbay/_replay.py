"""Between a complete chat answer and a stream of it, both ways (for response caches).

:func:`replay_events` turns a cached ``chat.completion`` into OpenAI's SSE chunks, so a
``stream: true`` request can be answered from it; :class:`StreamAssembler` collects a
relayed stream's chunks into the ``chat.completion`` they add up to, so a completed stream
can be stored. Both keep every message field (content, refusal, tool calls, reasoning...)
and the finish reasons.
"""

from __future__ import annotations

from typing import Any

import msgspec

from plugbay.schemas import Usage
from plugbay.wire import encode_event

__all__ = ["StreamAssembler", "replay_events"]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_HEAD = ("id", "created", "model", "system_fingerprint", "service_tier")


def replay_events(content: bytes, include_usage: bool = False) -> list[bytes]:
    """The SSE events (without ``[DONE]``) of a stream that says what ``content`` says.

    Per choice: one chunk with the role and every text field, one with the tool calls (if
    any), one with the finish reason; then a usage chunk when ``include_usage``.
    """
    body = _decode(content)
    base: dict[str, Any] = {"object": "chat.completion.chunk"}
    for name in _HEAD:
        if name in body:
            base[name] = body[name]
    events = []
    for choice in body.get("choices", ()):
        index = choice.get("index", 0)
        message = dict(choice.get("message") or {})
        tool_calls = message.pop("tool_calls", None)
        message.setdefault("role", "assistant")
        if message.get("content") is None and tool_calls:
            message.pop("content", None)
        first = {"index": index, "delta": message, "finish_reason": None}
        if choice.get("logprobs") is not None:
            first["logprobs"] = choice["logprobs"]
        events.append(encode_event({**base, "choices": [first]}))
        if tool_calls:
            calls = [{"index": i, **call} for i, call in enumerate(tool_calls)]
            delta = {"index": index, "delta": {"tool_calls": calls}, "finish_reason": None}
            events.append(encode_event({**base, "choices": [delta]}))
        last = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
        events.append(encode_event({**base, "choices": [last]}))
    if include_usage:
        events.append(encode_event({**base, "choices": [], "usage": body.get("usage")}))
    return events


class _Choice:
    __slots__ = ("fields", "finish_reason", "logprobs", "tool_calls")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.logprobs: dict[str, Any] | None = None

    def add(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta") or {}
        fields = self.fields
        for name, value in delta.items():
            if name == "tool_calls":
                for call in value or ():
                    self._add_call(call)
            elif isinstance(value, str) and isinstance(fields.get(name), str) and name != "role":
                fields[name] += value
            elif value is not None or name not in fields:
                fields[name] = value
        logprobs = choice.get("logprobs")
        if logprobs:
            if self.logprobs is None:
                self.logprobs = {k: list(v or ()) for k, v in logprobs.items()}
            else:
                for key, items in logprobs.items():
                    self.logprobs.setdefault(key, []).extend(items or ())
        if choice.get("finish_reason") is not None:
            self.finish_reason = choice["finish_reason"]

    def _add_call(self, call: dict[str, Any]) -> None:
        index = call.get("index", len(self.tool_calls))
        known = self.tool_calls.get(index)
        if known is None:
            function = dict(call.get("function") or {})
            function.setdefault("arguments", "")
            known = {"id": call.get("id"), "type": call.get("type", "function")}
            known["function"] = function
            self.tool_calls[index] = known
            return
        if call.get("id"):
            known["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            known["function"]["name"] = function["name"]
        known["function"]["arguments"] += function.get("arguments") or ""

    def message(self) -> dict[str, Any]:
        message = {"role": "assistant", "content": None, **self.fields}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message


class StreamAssembler:
    """Feed it a stream's bytes as relayed; :meth:`result` is the completion they make.

    ``result`` is ``None`` when the stream is not a complete, error-free answer (an error
    event, a choice without a finish reason, undecodable data): such a stream is not stored.
    """

    __slots__ = ("_broken", "_choices", "_head", "_tail", "_usage")

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None
        self._tail = b""
        self._broken = False

    def feed(self, data: bytes) -> None:
        if self._broken:
            return
        data = self._tail + data if self._tail else data
        events = data.split(b"\n\n")
        self._tail = events.pop()
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._event(line[5:].strip())

    def _event(self, payload: bytes) -> None:
        if payload == b"[DONE]" or not payload:
            return
        try:
            chunk = _decode(payload)
        except msgspec.DecodeError:
            self._broken = True
            return
        if not isinstance(chunk, dict) or "error" in chunk:
            self._broken = True
            return
        if not self._head:
            self._head = {name: chunk[name] for name in _HEAD if name in chunk}
        for choice in chunk.get("choices") or ():
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            state.add(choice)
        if chunk.get("usage"):
            self._usage = chunk["usage"]

    def result(self, usage: Usage | None = None) -> bytes | None:
        choices = self._choices
        if self._broken or not choices or not self._head:
            return None
        if any(c.finish_reason is None for c in choices.values()):
            return None
        head = self._head
        body: dict[str, Any] = {
            "id": head.get("id"),
            "object": "chat.completion",
            "created": head.get("created"),
            "model": head.get("model"),
            "choices": [
                {
                    "index": index,
                    "message": choices[index].message(),
                    "logprobs": choices[index].logprobs,
                    "finish_reason": choices[index].finish_reason,
                }
                for index in sorted(choices)
            ],
        }
        reported = usage if usage is not None else self._usage
        if reported is not None:
            body["usage"] = reported.to_openai() if isinstance(reported, Usage) else reported
        for name in ("system_fingerprint", "service_tier"):
            if name in head:
                body[name] = head[name]
        return _encode(body)
