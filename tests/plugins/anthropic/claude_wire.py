"""Anthropic's wire format, for the scripted upstream: Message bodies, SSE transcripts, errors.

Shapes, headers and event order follow Anthropic's documentation (Messages, Streaming
Messages, Errors): JSON answers carry a ``request-id`` header; a stream is ``message_start``,
then per content block ``content_block_start`` / ``content_block_delta``... /
``content_block_stop``, then ``message_delta`` (stop reason, cumulative usage) and
``message_stop``, with ``ping`` events in between; each event is an ``event:`` line naming
its type and a ``data:`` line holding the JSON.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec

from plugbay.testing import RecordedRequest, Reply

REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fy"
MODEL = "claude-sonnet-4-5-20250929"
_HEADERS = {
    "request-id": REQUEST_ID,
    "anthropic-organization-id": "c1b4ce1d-0b5a-4f3e-9d1c-0f6a1ee3b7a2",
    "via": "1.1 google",
}

_encode = msgspec.json.encode


def compact(value: Any) -> str:
    return _encode(value).decode()


def usage(
    input_tokens: int = 25, output_tokens: int = 15, *, read: int = 0, written: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(
    content: list[dict[str, Any]],
    stop_reason: str | None = "end_turn",
    *,
    id: str = "msg_01XFDUDYJgAACzvnptvVoYEL",
    tokens: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A Message object, as ``POST /v1/messages`` answers it."""
    return {
        **extra,
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": tokens or usage(),
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(id: str, name: str, input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": id, "name": name, "input": input}


def thinking(value: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}


def json_reply(body: dict[str, Any], headers: dict[str, str] | None = None) -> Reply:
    return Reply.json(body, headers={**_HEADERS, **(headers or {})})


def error_reply(
    status: int, type: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = {"type": "error", "error": {"type": type, "message": message}, "request_id": REQUEST_ID}
    return Reply.json(body, status=status, headers={**_HEADERS, **(headers or {})})


def event(data: dict[str, Any]) -> bytes:
    kind: str = data["type"]
    return b"event: " + kind.encode() + b"\ndata: " + _encode(data) + b"\n\n"


def stream_reply(events: list[dict[str, Any]], **kwargs: Any) -> Reply:
    return Reply.sse(
        [event(e) for e in events],
        headers={**_HEADERS, "content-type": "text/event-stream; charset=utf-8"},
        **kwargs,
    )


def split(value: str, pieces: int) -> list[str]:
    size = max(1, -(-len(value) // pieces))
    return [value[i : i + size] for i in range(0, len(value), size)]


def transcript(answer: dict[str, Any], pieces: int = 3) -> list[dict[str, Any]]:
    """The stream Anthropic sends for ``answer``, in the documented order.

    Tool inputs arrive as an empty ``partial_json`` and then fragments of their JSON, as the
    API sends them; text and thinking in ``pieces`` fragments.
    """
    total = answer["usage"]
    start_usage = {**total, "output_tokens": 1}
    skeleton = {**answer, "content": [], "stop_reason": None, "usage": start_usage}
    stop_details = skeleton.pop("stop_details", None)
    if stop_details is not None:
        skeleton["stop_details"] = None
    events: list[dict[str, Any]] = [{"type": "message_start", "message": skeleton}]
    for index, block in enumerate(answer["content"]):
        kind = block["type"]

        def delta(body: dict[str, Any], index: int = index) -> dict[str, Any]:
            return {"type": "content_block_delta", "index": index, "delta": body}

        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [
                delta({"type": "text_delta", "text": t}) for t in split(block["text"], pieces)
            ]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": ""}
            deltas = [
                delta({"type": "thinking_delta", "thinking": t})
                for t in split(block["thinking"], pieces)
            ]
            deltas.append(delta({"type": "signature_delta", "signature": block["signature"]}))
        else:
            start = {**block, "input": {}}
            arguments = compact(block["input"]) if block["input"] else ""
            deltas = [delta({"type": "input_json_delta", "partial_json": ""})]
            deltas += [
                delta({"type": "input_json_delta", "partial_json": j})
                for j in split(arguments, pieces)
            ]
        events.append({"type": "content_block_start", "index": index, "content_block": start})
        if index == 0:
            events.append({"type": "ping"})
        events += deltas
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": answer["stop_reason"],
                "stop_sequence": answer["stop_sequence"],
                **({"stop_details": stop_details} if stop_details is not None else {}),
            },
            "usage": {"output_tokens": total["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


# --- hand-written transcripts ------------------------------------------------------------

MSG_ID = "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"


def start(input_tokens: int = 25, **usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": MSG_ID,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": MODEL,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1, **usage},
        },
    }


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def text_delta(index: int, value: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": value},
    }


def json_delta(index: int, value: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "input_json_delta", "partial_json": value},
    }


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def tool_block(index: int, id: str, name: str) -> dict[str, Any]:
    return block(index, {"type": "tool_use", "id": id, "name": name, "input": {}})


def end(stop_reason: str, output_tokens: int, **delta: Any) -> list[dict[str, Any]]:
    return [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None, **delta},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    ]


PING = {"type": "ping"}


class Script:
    """The upstream's replies, in order; an unscripted request gets a loud 500."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.replies:
            return self.replies.popleft()
        return error_reply(500, "api_error", f"nothing scripted for {request.path}")

    def add(self, *replies: Reply) -> None:
        self.replies.extend(replies)
