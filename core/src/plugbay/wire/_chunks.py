"""OpenAI ``chat.completion.chunk`` events, written as bytes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from plugbay.schemas import Usage

__all__ = ["ChunkWriter"]

_encode = msgspec.json.Encoder().encode


class ChunkWriter:
    """Writes one streamed answer's chunks: ``data: {...}\\n\\n`` events in OpenAI's format.

    Every chunk carries the envelope (``id``, ``object``, ``created``, ``model``, the
    ``extra`` members such as ``system_fingerprint``), then ``choices``, then, when the
    client asked for the usage chunk (``wants_usage``), ``"usage": null`` as OpenAI writes
    it on every chunk but the last. The envelope is encoded once; a chunk costs the encoding
    of its delta.

    :param model: the public model name.
    :param id: the answer's id; may be set later (:meth:`set_id`) when the upstream sends
        it in its first event.
    """

    __slots__ = ("_head", "_tail", "created", "extra", "id", "model", "wants_usage")

    def __init__(
        self,
        model: str,
        *,
        id: str = "",
        wants_usage: bool = False,
        created: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.wants_usage = wants_usage
        self.created = int(time.time()) if created is None else created
        self.extra = extra
        self._tail = b',"usage":null}\n\n' if wants_usage else b"}\n\n"
        self.id = id
        self._head = self._envelope()

    def _envelope(self) -> bytes:
        head: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }
        if self.extra:
            head.update(self.extra)
        return b"data: " + _encode(head)[:-1] + b',"choices":'

    def set_id(self, id: str) -> None:
        self.id = id
        self._head = self._envelope()

    def chunk(self, delta: dict[str, Any], finish: str | None = None, choice: int = 0) -> bytes:
        """One chunk holding ``delta`` (and ``finish_reason``) for ``choice``."""
        entry = {"index": choice, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._head + _encode([entry]) + self._tail

    def role(self, content: str | None = "", choice: int = 0) -> bytes:
        """The role opener: ``{"role": "assistant", "content": ..., "refusal": null}``
        (``content`` is ``""`` before text, ``None`` before reasoning or tool calls)."""
        return self.chunk({"role": "assistant", "content": content, "refusal": None}, None, choice)

    def opening(self, delta: dict[str, Any], choice: int = 0) -> bytes:
        """A first chunk that holds the role itself: ``delta`` with the role,
        ``content: null`` and ``refusal: null`` (a first tool call or reasoning)."""
        return self.chunk(
            {"role": "assistant", "content": None, **delta, "refusal": None}, None, choice
        )

    def content(self, text: str, choice: int = 0) -> bytes:
        return self.chunk({"content": text}, None, choice)

    def reasoning(self, text: str, choice: int = 0) -> bytes:
        return self.chunk({"reasoning_content": text}, None, choice)

    @staticmethod
    def tool_call_delta(
        index: int,
        *,
        id: str | None = None,
        name: str | None = None,
        arguments: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One ``tool_calls`` entry: its first delta has ``id``, ``type`` and ``name``; later
        ones only ``arguments`` fragments."""
        call: dict[str, Any] = {"index": index}
        if id is not None:
            call["id"] = id
            call["type"] = "function"
            call["function"] = {"name": name or "", "arguments": arguments or ""}
        else:
            call["function"] = {"arguments": arguments or ""}
        if extra:
            call.update(extra)
        return {"tool_calls": [call]}

    def tool_call(
        self,
        index: int,
        *,
        id: str | None = None,
        name: str | None = None,
        arguments: str | None = None,
        extra: dict[str, Any] | None = None,
        choice: int = 0,
    ) -> bytes:
        """A chunk holding one tool-call delta (see :meth:`tool_call_delta`)."""
        delta = self.tool_call_delta(index, id=id, name=name, arguments=arguments, extra=extra)
        return self.chunk(delta, None, choice)

    def finish(self, reason: str, choice: int = 0) -> bytes:
        """The choice's last chunk: an empty delta and its ``finish_reason``."""
        return self.chunk({}, reason, choice)

    def usage(self, usage: Usage) -> bytes:
        """The usage chunk (no choices), sent last, when the client asked for it."""
        return self._head + b'[],"usage":' + _encode(usage.to_openai()) + b"}\n\n"
