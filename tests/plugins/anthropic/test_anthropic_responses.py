"""Golden answers: Anthropic's Message → the exact OpenAI ``chat.completion``, through the
openai SDK."""

from __future__ import annotations

import time
from typing import Any

import openai
import pytest
from claude_cases import CASES, Case
from claude_gateway import Upstream
from claude_wire import json_reply, message, text

HELLO: Any = [{"role": "user", "content": "Hello"}]


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_answer(client: openai.OpenAI, upstream: Upstream, case: Case) -> None:
    upstream.add(json_reply(case.answer))
    before = int(time.time())
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=HELLO, **case.request
    )
    body = raw.http_response.json()
    created = body.pop("created")
    assert before <= created <= time.time()
    assert body == {
        "id": case.answer["id"],
        "object": "chat.completion",
        "model": "claude",
        "choices": [
            {
                "index": 0,
                "message": case.message,
                "logprobs": None,
                "finish_reason": case.finish_reason,
            }
        ],
        "usage": case.usage,
    }
    # and the SDK's typed view agrees
    parsed = raw.parse()
    assert parsed.choices[0].finish_reason == case.finish_reason
    assert parsed.usage is not None
    assert parsed.usage.prompt_tokens == case.usage["prompt_tokens"]


def test_usage_cache_fields_in_the_sdk(client: openai.OpenAI, upstream: Upstream) -> None:
    upstream.add(json_reply(CASES["prompt cache usage"].answer))
    answer = client.chat.completions.create(model="claude", messages=HELLO)
    assert answer.usage is not None
    details = answer.usage.prompt_tokens_details
    assert details is not None
    assert (details.cached_tokens, details.cache_write_tokens) == (1800, 200)


def test_unknown_blocks_and_stop_reasons(client: openai.OpenAI, upstream: Upstream) -> None:
    """Block types OpenAI cannot show are skipped; an unknown stop reason is still `stop`."""
    answer = message(
        [
            {
                "type": "redacted_thinking",
                "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw",
            },
            {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}},
            text("Done."),
        ],
        "some_future_reason",
    )
    upstream.add(json_reply(answer))
    result = client.chat.completions.create(model="claude", messages=HELLO)
    assert result.choices[0].message.content == "Done."
    assert result.choices[0].message.tool_calls is None
    assert result.choices[0].finish_reason == "stop"


def test_unreadable_answer_is_an_upstream_error(client: openai.OpenAI, upstream: Upstream) -> None:
    from plugbay.testing import Reply

    upstream.add(
        Reply(status=200, body=b"<html>gateway</html>", headers={"content-type": "text/html"})
    )
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=HELLO)
    assert caught.value.status_code == 502
