"""plugbay-echo: offline, deterministic, word-by-word streams, stable embeddings."""

from __future__ import annotations

import base64
import math
import struct
import time

import httpx
import pytest

import plugbay_echo

HELLO = [{"role": "user", "content": "the quick brown fox"}]


@pytest.fixture
def gw(make_gateway):
    return make_gateway(plugins=[plugbay_echo])  # no config: the embedded `echo` model


@pytest.fixture
def client(gw):
    return gw.openai()


def test_embedded_default_model(client):
    assert [m.id for m in client.models.list().data] == ["echo"]


def test_echoes_the_last_user_message_deterministically(client):
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ignored"},
        *HELLO,
    ]
    one = client.chat.completions.create(model="echo", messages=messages)
    two = client.chat.completions.create(model="echo", messages=messages)
    assert one.choices[0].message.content == "the quick brown fox"
    assert one.id == two.id
    assert one.model == "echo"
    assert one.choices[0].finish_reason == "stop"
    assert (one.usage.prompt_tokens, one.usage.completion_tokens) == (8, 4)


def test_multimodal_text_parts(client):
    content = [
        {"type": "text", "text": "look at"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "this"},
    ]
    answer = client.chat.completions.create(
        model="echo", messages=[{"role": "user", "content": content}]
    )
    assert answer.choices[0].message.content == "look at this"


def test_streams_word_by_word(client):
    chunks = list(client.chat.completions.create(model="echo", messages=HELLO, stream=True))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert deltas == ["", "the", " quick", " brown", " fox", None]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_usage_when_asked(client):
    chunks = list(
        client.chat.completions.create(
            model="echo", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 4


def test_chunk_delay(make_gateway, master_key):
    gw = make_gateway(
        {
            "providers": [{"name": "slow", "type": "echo", "chunk_delay": 0.5}],
            "models": [{"name": "slow-echo", "provider": "slow"}],
        },
        plugins=[plugbay_echo],
    )
    arrivals = []
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={"model": "slow-echo", "messages": HELLO, "stream": True},
        headers={"authorization": f"Bearer {master_key}"},
    ) as response:
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    # 3 x 0.5 s between the four words; buffered, they would come together (compared loosely:
    # a busy machine may hold back the first for a while)
    assert arrivals[-1] - arrivals[0] > 0.5


def test_max_tokens_truncates(client):
    answer = client.chat.completions.create(model="echo", messages=HELLO, max_tokens=2)
    assert answer.choices[0].message.content == "the quick"
    assert answer.choices[0].finish_reason == "length"


def test_forced_tool_call(client):
    tools = [{"type": "function", "function": {"name": "say", "parameters": {"type": "object"}}}]
    answer = client.chat.completions.create(
        model="echo",
        messages=HELLO,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "say"}},
    )
    (call,) = answer.choices[0].message.tool_calls
    assert call.function.name == "say"
    assert call.function.arguments == '{"text":"the quick brown fox"}'
    assert answer.choices[0].finish_reason == "tool_calls"
    chunks = list(
        client.chat.completions.create(
            model="echo", messages=HELLO, tools=tools, tool_choice="required", stream=True
        )
    )
    calls = [
        c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
    ]
    assert calls[0][0].function.name == "say"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "tool_choice",
    [
        {"type": "function", "function": "say"},
        {"function": None},
        {"function": {"name": 5}},
        "none",
    ],
)
def test_odd_tool_choices_never_fail(gw, master_key, tool_choice):
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={
            "model": "echo",
            "messages": HELLO,
            "tools": [{"type": "function", "function": {"name": "say"}}],
            "tool_choice": tool_choice,
        },
        headers={"authorization": f"Bearer {master_key}"},
    )
    assert response.status_code < 500, response.text


def test_stable_unit_embeddings(client):
    first = client.embeddings.create(model="echo", input=["alpha", "beta"], encoding_format="float")
    again = client.embeddings.create(model="echo", input="alpha", encoding_format="float")
    alpha, beta = (d.embedding for d in first.data)
    assert len(alpha) == 16
    assert again.data[0].embedding == alpha
    assert alpha != beta
    assert math.isclose(math.sqrt(sum(v * v for v in alpha)), 1.0, rel_tol=1e-4)
    sized = client.embeddings.create(model="echo", input="alpha", dimensions=5)
    assert len(sized.data[0].embedding) == 5


def test_base64_embeddings_match_floats(gw, master_key):
    def embed(fmt: str) -> list:
        response = httpx.post(
            gw.url + "/v1/embeddings",
            json={"model": "echo", "input": [[1, 2, 3]], "encoding_format": fmt},
            headers={"authorization": f"Bearer {master_key}"},
        )
        return response.json()["data"][0]["embedding"]

    floats = embed("float")
    raw = base64.b64decode(embed("base64"))
    assert struct.unpack(f"<{len(floats)}f", raw) == pytest.approx(floats, rel=1e-6)


def test_embedding_dimensions_option(make_gateway):
    gw = make_gateway(
        {
            "providers": [{"name": "e", "type": "echo", "dimensions": 8}],
            "models": [{"name": "e8", "provider": "e"}],
        },
        plugins=[plugbay_echo],
    )
    result = gw.openai().embeddings.create(model="e8", input="x", encoding_format="float")
    assert len(result.data[0].embedding) == 8
