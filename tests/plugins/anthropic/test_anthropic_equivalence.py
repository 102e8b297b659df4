"""The same answer, whole and streamed: the openai SDK's streaming helper must rebuild exactly
the message, tool calls (ids, names, arguments), finish reason and usage of the whole answer.

Each case's stream is the transcript Anthropic sends for that Message (``transcript``), cut
into one and into several fragments per block.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from claude_cases import CASES, Case
from claude_gateway import Upstream
from claude_wire import json_reply, stream_reply, transcript

HELLO: Any = [{"role": "user", "content": "Hello"}]
REFUSED: dict[str, type[Exception]] = {
    "length": openai.LengthFinishReasonError,
    "content_filter": openai.ContentFilterFinishReasonError,
}


def calls(message: Any) -> list[tuple[str, str, str, str]]:
    return [
        (call.id, call.type, call.function.name, call.function.arguments)
        for call in message.tool_calls or ()
    ]


@pytest.mark.parametrize("pieces", [1, 4])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_stream_rebuilds_the_whole_answer(
    client: openai.OpenAI, upstream: Upstream, case: Case, pieces: int
) -> None:
    upstream.add(json_reply(case.answer), stream_reply(transcript(case.answer, pieces)))
    whole = client.chat.completions.create(model="claude", messages=HELLO, **case.request)
    with client.chat.completions.stream(
        model="claude",
        messages=HELLO,
        stream_options={"include_usage": True},
        **case.request,
    ) as stream:
        for _ in stream:
            pass
        if case.finish_reason in REFUSED:
            # as with OpenAI, the helper will not parse a cut-off answer, but keeps its snapshot
            with pytest.raises(REFUSED[case.finish_reason]):
                stream.get_final_completion()
            streamed: Any = stream.current_completion_snapshot
        else:
            streamed = stream.get_final_completion()

    expected_calls = [
        (c["id"], c["type"], c["function"]["name"], c["function"]["arguments"])
        for c in case.message.get("tool_calls", ())
    ]
    assert calls(whole.choices[0].message) == expected_calls
    assert calls(streamed.choices[0].message) == expected_calls
    for answer in (whole, streamed):
        choice = answer.choices[0]
        assert choice.finish_reason == case.finish_reason
        assert choice.message.content == case.message["content"]
        assert getattr(choice.message, "reasoning_content", None) == case.message.get(
            "reasoning_content"
        )
        assert answer.usage is not None
        assert answer.usage.model_dump(exclude_none=True) == case.usage
        assert answer.id == case.answer["id"]
        assert answer.model == "claude"
