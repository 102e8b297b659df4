"""Checks of OpenAI's wire format, as a client sees it: what :class:`ProviderConformance`
asserts, for a plugin's own tests too.

``stream_chunks(response, model)`` reads an SSE answer (an ``httpx.Response``) and fails
unless it is a valid OpenAI chat completion stream; ``check_completion(body, model)`` does
the same for a whole answer. Both validate against the openai SDK's own models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    import httpx

__all__ = [
    "FINISH_REASONS",
    "check_completion",
    "check_stream_shape",
    "finish_reason",
    "stream_chunks",
    "streamed_text",
    "tool_arguments",
    "usage_chunks",
]

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def check_completion(body: Any, model: str) -> None:
    """Fail unless ``body`` is a ``chat.completion`` for ``model``."""
    from openai.types.chat import ChatCompletion

    ChatCompletion.model_validate(body, strict=False)
    assert body["object"] == "chat.completion"
    assert body["model"] == model, f"the answer's model is {body['model']!r}, not {model!r}"
    for choice in body["choices"]:
        assert choice["finish_reason"] in FINISH_REASONS


def stream_chunks(response: httpx.Response, model: str) -> list[dict[str, Any]]:
    """The JSON chunks of a valid OpenAI SSE answer for ``model`` (``[DONE]`` last, nothing
    after, one id, the shape :func:`check_stream_shape` checks)."""
    from openai.types.chat import ChatCompletionChunk

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.endswith("data: [DONE]\n\n"), f"the stream must end with [DONE]: {text!r}"
    events = [event for event in text.split("\n\n") if event]
    assert events[-1] == "data: [DONE]"
    chunks = []
    for event in events[:-1]:
        assert event.startswith("data: "), f"not an SSE data event: {event!r}"
        assert "\n" not in event, f"one line per event: {event!r}"
        data = event.removeprefix("data: ")
        assert data != "[DONE]", "[DONE] must come once, last"
        chunk = msgspec.json.decode(data)
        assert "error" not in chunk, f"an error event: {chunk}"
        ChatCompletionChunk.model_validate(chunk, strict=False)
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == model, f"a chunk's model is {chunk['model']!r}, not {model!r}"
        chunks.append(chunk)
    assert len({c["id"] for c in chunks}) == 1, "every chunk carries the same id"
    check_stream_shape(chunks)
    return chunks


def check_stream_shape(chunks: list[dict[str, Any]]) -> None:
    """One role opener, first; exactly one finish reason; no delta after it."""
    deltas = [(c, choice) for c in chunks for choice in c["choices"]]
    assert deltas, "a stream has choices"
    roles = [choice["delta"].get("role") for _, choice in deltas if "role" in choice["delta"]]
    assert roles == ["assistant"], f"exactly one role opener, got {roles}"
    assert "role" in deltas[0][1]["delta"], "the role opens the answer"
    finishes = [
        (index, choice["finish_reason"])
        for index, (_, choice) in enumerate(deltas)
        if choice.get("finish_reason") is not None
    ]
    assert len(finishes) == 1, f"exactly one finish reason, got {finishes}"
    index, reason = finishes[0]
    assert reason in FINISH_REASONS
    after = deltas[index + 1 :]
    assert all(not choice["delta"] for _, choice in after), "nothing after the finish"


def usage_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if c.get("usage") is not None]


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(choice["delta"].get("content") or "" for c in chunks for choice in c["choices"])


def finish_reason(chunks: list[dict[str, Any]]) -> str:
    reason: str = next(
        choice["finish_reason"]
        for c in chunks
        for choice in c["choices"]
        if choice.get("finish_reason") is not None
    )
    return reason


def tool_arguments(text: str) -> Any:
    """A tool call's ``arguments``: a JSON string, decoded."""
    assert isinstance(text, str), "tool call arguments are a JSON string"
    return msgspec.json.decode(text)
