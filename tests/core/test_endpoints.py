"""The OpenAI surface, end to end through a relay adapter to a real scripted upstream."""

from __future__ import annotations

import base64
import os
import struct

import openai
import pytest
from litestar.testing import TestClient

from plugbay._app import create_app
from plugbay.testing import Reply, build_settings
from tests.core.support import CHAT, relay, relay_config


@pytest.fixture
def gw(make_client, scripted_upstream):
    return make_client(relay_config(scripted_upstream.base_url), plugins=[relay])


@pytest.fixture
def http(gw, master_key):
    with gw.http() as client:
        yield client


def test_list_models(gw):
    models = gw.openai().models.list()
    assert [m.id for m in models.data] == ["org/team/model-1", "public"]
    assert all(m.owned_by == "up" and m.object == "model" for m in models.data)
    assert all(m.created > 1_600_000_000 for m in models.data)


def test_get_model_with_slashes(gw, http):
    model = gw.openai().models.retrieve("org/team/model-1")
    assert model.id == "org/team/model-1"
    raw = http.get("/v1/models/org/team/model-1")
    assert raw.status_code == 200
    assert raw.json()["id"] == "org/team/model-1"
    assert http.get("/v1/models/public").json()["owned_by"] == "up"


def test_get_unknown_model_is_404(gw):
    with pytest.raises(openai.NotFoundError) as info:
        gw.openai().models.retrieve("org/nope")
    assert info.value.code == "model_not_found"


def test_chat_renames_model_and_uses_provider_credentials(gw, scripted_upstream, master_key):
    answer = gw.openai().chat.completions.create(**CHAT)
    assert answer.model == "public"
    assert answer.choices[0].message.content == "hello there"
    (sent,) = scripted_upstream.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.json()["model"] == "upstream-model"
    assert sent.headers["authorization"] == "Bearer sk-upstream-secret"
    assert master_key not in repr(sent.headers)
    assert master_key.encode() not in sent.body


def test_chat_stream(gw, scripted_upstream):
    chunks = list(
        gw.openai().chat.completions.create(
            model="public", messages=[{"role": "user", "content": "one two three"}], stream=True
        )
    )
    assert {c.model for c in chunks} == {"public"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "one two three"
    )
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert scripted_upstream.requests[0].json()["stream"] is True


def test_stream_ends_with_done(gw, http):
    with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read()
    events = [e for e in body.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    assert body.count(b"[DONE]") == 1


def test_stream_include_usage(gw, scripted_upstream):
    chunks = list(
        gw.openai().chat.completions.create(
            model="public",
            messages=[{"role": "user", "content": "a b"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2
    assert scripted_upstream.requests[0].json()["stream_options"] == {"include_usage": True}


def test_tools_and_tool_calls(gw, scripted_upstream):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
                "strict": True,
            },
        }
    ]
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
    }
    scripted_upstream.script(
        Reply.json(
            {
                "id": "c1",
                "object": "chat.completion",
                "created": 1,
                "model": "upstream-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                        "finish_reason": "tool_calls",
                    }
                ],
            }
        )
    )
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    answer = gw.openai().chat.completions.create(
        model="public", messages=messages, tools=tools, tool_choice="auto"
    )
    assert answer.model == "public"
    (tool_call,) = answer.choices[0].message.tool_calls
    assert tool_call.function.name == "get_weather"
    assert tool_call.function.arguments == '{"city":"Paris"}'
    sent = scripted_upstream.requests[0].json()
    assert sent["tools"] == tools
    assert sent["messages"] == messages
    assert sent["tool_choice"] == "auto"


def test_multimodal_content_parts_reach_upstream_intact(gw, scripted_upstream):
    content = [
        {"type": "text", "text": "what is this"},
        {
            "type": "image_url",
            "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "low"},
        },
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "some_future_part", "whatever": [1, 2, {"x": None}]},
    ]
    answer = gw.openai().chat.completions.create(
        model="public", messages=[{"role": "user", "content": content}]
    )
    assert answer.choices[0].message.content.split() == ["what", "is", "this"]
    assert scripted_upstream.requests[0].json()["messages"][0]["content"] == content


def test_every_parameter_and_unknown_fields_are_forwarded(gw, scripted_upstream, http):
    body = {
        "model": "public",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "temperature": 0.25,
        "top_p": 0.5,
        "n": 1,
        "max_tokens": 7,
        "max_completion_tokens": 9,
        "stop": ["x", "y"],
        "seed": 99999999999999999999,
        "presence_penalty": 0.1,
        "frequency_penalty": -0.1,
        "logit_bias": {"50256": -100},
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "reasoning_effort": "low",
        "user": "u-1",
        "metadata": {"k": "v"},
        "parallel_tool_calls": False,
        "store": True,
        "modalities": ["text"],
        "prediction": {"type": "content", "content": "p"},
        "service_tier": "flex",
        "web_search_options": {},
        "x_vendor_extension": {"nested": [1, {"deep": True}]},
    }
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    sent = scripted_upstream.requests[0].json()
    assert sent == {**body, "model": "upstream-model"}


def test_sdk_extra_body_is_forwarded(gw, scripted_upstream):
    gw.openai().chat.completions.create(
        **CHAT, extra_body={"provider": {"order": ["a", "b"]}, "top_k": 3}
    )
    sent = scripted_upstream.requests[0].json()
    assert sent["provider"] == {"order": ["a", "b"]}
    assert sent["top_k"] == 3


def test_embeddings_float(gw, scripted_upstream, http):
    response = http.post(
        "/v1/embeddings",
        json={"model": "public", "input": ["a", "b"], "encoding_format": "float"},
    )
    assert response.status_code == 200
    data = response.json()
    assert data["model"] == "public"
    assert [item["embedding"] for item in data["data"]] == [[0.1, 0.2, 0.3], [0.2, 0.4, 0.6]]
    sent = scripted_upstream.requests[0]
    assert sent.path == "/v1/embeddings"
    assert sent.json() == {
        "model": "upstream-model",
        "input": ["a", "b"],
        "encoding_format": "float",
    }


def test_embeddings_base64_through_the_sdk(gw, scripted_upstream):
    # The SDK asks for base64 and decodes it itself.
    result = gw.openai().embeddings.create(model="public", input="hello", dimensions=4)
    assert result.model == "public"
    assert result.data[0].embedding == pytest.approx([0.1, 0.2, 0.3, 0.4], rel=1e-6)
    assert scripted_upstream.requests[0].json()["encoding_format"] == "base64"


def test_embeddings_base64_raw(gw, http):
    response = http.post(
        "/v1/embeddings",
        json={"model": "public", "input": [[1, 2, 3]], "encoding_format": "base64"},
    )
    assert response.status_code == 200
    raw = base64.b64decode(response.json()["data"][0]["embedding"])
    assert struct.unpack("<3f", raw) == pytest.approx((0.1, 0.2, 0.3))


def test_paths_without_v1_prefix(gw, http):
    assert http.post("/chat/completions", json=CHAT).json()["model"] == "public"
    assert [m["id"] for m in http.get("/models").json()["data"]] == ["org/team/model-1", "public"]


def test_health(gw):
    # No credential needed: load balancers probe these.
    assert gw.http(auth=False).get("/health").json() == {"status": "ok"}
    ready = gw.http(auth=False).get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": 2, "pid": os.getpid()}


def test_health_ready_is_503_before_start(tmp_path):
    app = create_app(build_settings(database=tmp_path / "db.sqlite"), plugins=[relay])
    client = TestClient(app)  # not entered: the lifespan (start-up) never ran
    assert client.get("/health").status_code == 200
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "starting"}


def test_the_body_is_decoded_once(gw, http, monkeypatch):
    import plugbay._pipeline

    calls: list[bytes] = []
    decode = plugbay._pipeline._decode

    def counting(raw: bytes):
        calls.append(raw)
        return decode(raw)

    monkeypatch.setattr(plugbay._pipeline, "_decode", counting)
    assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert http.post("/v1/chat/completions", json={**CHAT, "stream": True}).status_code == 200
    assert http.post("/v1/embeddings", json={"model": "public", "input": "x"}).status_code == 200
    assert len(calls) == 3
