"""The ``vertex`` type: Vertex AI URLs and bearer tokens; provider construction."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from gemini_wire import (
    VERTEX_GENERATE,
    VERTEX_PREDICT,
    VERTEX_STREAM,
    answer,
    gemini_error,
    gemini_json,
    gemini_sse,
    vertex_config,
)

import plugbay_gemini
from plugbay import ProviderContext
from plugbay._settings import ConfigError, ProviderSettings
from plugbay.testing import RunningGateway, ScriptedUpstream
from plugbay_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider

MESSAGES = [{"role": "user", "content": "hi"}]


def test_static_bearer_token(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream.url, api_key="ya29.static"), plugins=[plugbay_gemini]
    )
    client = gateway.openai()
    scripted_upstream.script(gemini_json(answer([{"text": "Hi"}])), path=VERTEX_GENERATE)
    scripted_upstream.script(gemini_sse([answer([{"text": "Hi"}])]), path=VERTEX_STREAM)
    assert (
        client.chat.completions.create(model="flash", messages=MESSAGES).choices[0].message.content
        == "Hi"
    )
    chunks = list(client.chat.completions.create(model="flash", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi"
    whole, streamed = scripted_upstream.wait_for(2)
    assert (whole.path, streamed.path, streamed.query) == (
        VERTEX_GENERATE,
        VERTEX_STREAM,
        {"alt": "sse"},
    )
    for sent in (whole, streamed):
        assert sent.headers["authorization"] == "Bearer ya29.static"
        assert "x-goog-api-key" not in sent.headers
        assert sent.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_embeddings_through_predict(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream.url, api_key="ya29.static"), plugins=[plugbay_gemini]
    )
    scripted_upstream.script(
        gemini_json(
            {
                "predictions": [
                    {
                        "embeddings": {
                            "statistics": {"truncated": False, "token_count": 2},
                            "values": [0.5, -0.25],
                        }
                    },
                    {
                        "embeddings": {
                            "statistics": {"truncated": False, "token_count": 3},
                            "values": [0.0, 1.0],
                        }
                    },
                ],
                "metadata": {"billableCharacterCount": 12},
            }
        ),
        path=VERTEX_PREDICT,
    )
    raw = gateway.openai().embeddings.with_raw_response.create(
        model="embed", input=["hello you", "goodbye"], dimensions=2, encoding_format="float"
    )
    assert json.loads(raw.http_response.text) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
        ],
        "model": "embed",
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    assert scripted_upstream.wait_for(1)[0].json() == {
        "instances": [{"content": "hello you"}, {"content": "goodbye"}],
        "parameters": {"outputDimensionality": 2},
    }


def test_vertex_errors_are_mapped(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream.url, api_key="ya29.expired"), plugins=[plugbay_gemini]
    )
    scripted_upstream.script(
        gemini_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"),
        path=VERTEX_GENERATE,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.openai().chat.completions.create(model="flash", messages=MESSAGES)
    assert caught.value.response.json()["error"]["code"] == "upstream_auth_error"


def _vertex(**options: Any) -> VertexProvider:
    settings = ProviderSettings(name="v", type="vertex", api_key=options.pop("api_key", None))
    return VertexProvider(ProviderContext(settings, VertexOptions(project="p", **options)))


def test_vertex_endpoints() -> None:
    regional = _vertex(api_key="t")
    assert regional.http.base_url == "https://us-central1-aiplatform.googleapis.com/v1"
    assert regional.model_path("gemini-2.5-pro") == (
        "/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"
    )
    assert regional.model_path("endpoints/123") == "/projects/p/locations/us-central1/endpoints/123"
    assert regional.model_path("projects/q/locations/x/endpoints/9") == (
        "/projects/q/locations/x/endpoints/9"
    )
    glob = _vertex(api_key="t", region="global")
    assert glob.http.base_url == "https://aiplatform.googleapis.com/v1"
    assert glob.model_path("m") == "/projects/p/locations/global/publishers/google/models/m"


def test_vertex_without_google_auth_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    with pytest.raises(ConfigError, match=r"pip install 'plugbay-gemini\[vertex\]'"):
        _vertex()
    # A static token needs no google-auth.
    assert _vertex(api_key="ya29.x").tokens is None


def test_vertex_missing_credentials_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        _vertex(credentials_file=str(tmp_path / "missing.json"))


def _gemini(api_key: str | None = None, headers: dict[str, str] | None = None) -> GeminiProvider:
    settings = ProviderSettings(name="g", type="gemini", api_key=api_key, headers=headers or {})
    return GeminiProvider(ProviderContext(settings, GeminiOptions()))


def test_gemini_key_from_config_env_or_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="api_key"):
        _gemini()
    assert _gemini("AIza-config").http.headers["x-goog-api-key"] == "AIza-config"
    assert _gemini(headers={"X-Goog-Api-Key": "AIza-header"}).http.headers["x-goog-api-key"] == (
        "AIza-header"
    )
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google")
    assert _gemini().http.headers["x-goog-api-key"] == "AIza-google"
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini")
    assert _gemini().http.headers["x-goog-api-key"] == "AIza-gemini"
    provider = _gemini("k")
    assert provider.http.base_url == "https://generativelanguage.googleapis.com/v1beta"
    assert provider.model_path("gemini-2.5-pro") == "/models/gemini-2.5-pro"
    assert provider.model_path("tunedModels/mine") == "/tunedModels/mine"
