"""Golden table: Gemini answers and stream transcripts → exact OpenAI answers and chunk
sequences, read through the openai SDK; and the SDK's stream helper rebuilds from the stream
exactly the message the whole answer gives."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from gemini_cases import SCENARIOS, Scenario
from gemini_wire import GENERATE, PUBLIC, STREAM, gemini_json, gemini_sse

MESSAGES = [{"role": "user", "content": "hi"}]
IDS = [s.name for s in SCENARIOS]


def read_stream(gemini: Any, **kwargs: Any) -> list[Any]:
    """The events of a streamed answer as the client receives them, decoded."""
    with gemini.client.chat.completions.with_streaming_response.create(
        model=PUBLIC, messages=MESSAGES, stream=True, **kwargs
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    for event in events:
        if "created" in event:
            assert isinstance(event.pop("created"), int)
    return events


@pytest.mark.parametrize("case", SCENARIOS, ids=IDS)
def test_whole_answer_golden(gemini: Any, case: Scenario) -> None:
    gemini.upstream.script(gemini_json(case.whole), path=GENERATE)
    raw = gemini.client.chat.completions.with_raw_response.create(
        model=PUBLIC, messages=MESSAGES, n=case.n
    )
    body = json.loads(raw.http_response.text)
    assert isinstance(body.pop("created"), int)
    assert body == case.completion


@pytest.mark.parametrize("case", SCENARIOS, ids=IDS)
def test_stream_golden(gemini: Any, case: Scenario) -> None:
    gemini.upstream.script(gemini_sse(case.events), path=STREAM)
    events = read_stream(gemini, n=case.n, stream_options={"include_usage": True})
    assert events == case.chunks


@pytest.mark.parametrize("case", SCENARIOS, ids=IDS)
def test_stream_without_usage_option(gemini: Any, case: Scenario) -> None:
    """Without ``include_usage`` the chunks carry no ``usage`` and no usage chunk follows."""
    gemini.upstream.script(gemini_sse(case.events), path=STREAM)
    events = read_stream(gemini, n=case.n)
    expected = [{k: v for k, v in c.items() if k != "usage"} for c in case.chunks if c["choices"]]
    assert events == expected


@pytest.mark.parametrize("case", SCENARIOS, ids=IDS)
def test_stream_helper_rebuilds_the_whole_answer(gemini: Any, case: Scenario) -> None:
    gemini.upstream.script(gemini_json(case.whole), path=GENERATE)
    gemini.upstream.script(gemini_sse(case.events), path=STREAM)
    whole = gemini.client.chat.completions.create(model=PUBLIC, messages=MESSAGES, n=case.n)
    with gemini.client.chat.completions.stream(
        model=PUBLIC, messages=MESSAGES, n=case.n, stream_options={"include_usage": True}
    ) as stream:
        try:
            rebuilt = stream.get_final_completion()
        except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError) as exc:
            # The helper refuses to "parse" these answers, as it does OpenAI's; the answer it
            # rebuilt is on the exception.
            assert case.completion["choices"][0]["finish_reason"] in ("length", "content_filter")
            rebuilt = exc.completion

    def view(message: Any) -> Any:
        calls = [
            (c.id, c.type, c.function.name, c.function.arguments, getattr(c, "extra_content", None))
            for c in message.tool_calls or ()
        ]
        return message.content, calls, getattr(message, "reasoning_content", None)

    assert [c.index for c in rebuilt.choices] == [c.index for c in whole.choices]
    for mine, theirs in zip(rebuilt.choices, whole.choices, strict=True):
        assert view(mine.message) == view(theirs.message)
        assert mine.finish_reason == theirs.finish_reason
    assert rebuilt.id == whole.id
    assert rebuilt.usage == whole.usage
    expected_calls = [c["message"].get("tool_calls", []) for c in case.completion["choices"]]
    assert [len(c.message.tool_calls or ()) for c in rebuilt.choices] == [
        len(calls) for calls in expected_calls
    ]
