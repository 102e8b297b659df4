"""The ``vertex`` type: Vertex AI URLs, bearer tokens, google-auth service accounts."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gemini_wire import answer, gemini_error, gemini_json, gemini_sse, usage_metadata

import plugboard_gemini
from plugboard import ProviderContext, UpstreamError
from plugboard.settings import ConfigError, ProviderSettings
from plugboard.testing import Reply, RunningGateway, ScriptedUpstream
from plugboard_gemini._auth import GoogleCredentials
from plugboard_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider

PREFIX = "/v1/projects/my-proj/locations/europe-west4"
GENERATE = PREFIX + "/publishers/google/models/gemini-2.5-flash:generateContent"
STREAM = PREFIX + "/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
PREDICT = PREFIX + "/publishers/google/models/text-embedding-005:predict"
MESSAGES = [{"role": "user", "content": "hi"}]
CLIENT_EMAIL = "gateway@my-proj.iam.gserviceaccount.com"


def vertex_config(upstream: ScriptedUpstream, **provider: Any) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "vertex",
                "type": "vertex",
                "base_url": upstream.url + "/v1",
                "project": "my-proj",
                "region": "europe-west4",
                **provider,
            }
        ],
        "models": [
            {"name": "flash", "provider": "vertex", "upstream_model": "gemini-2.5-flash"},
            {"name": "embed", "provider": "vertex", "upstream_model": "text-embedding-005"},
        ],
    }


@pytest.fixture
def service_account(tmp_path: Path, scripted_upstream: ScriptedUpstream) -> Path:
    """A service-account file with a fresh key, whose token endpoint is the scripted upstream."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "my-proj",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "1234567890",
        "token_uri": scripted_upstream.url + "/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    return path


def token_reply(token: str, expires_in: int = 3599) -> Reply:
    return Reply.json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


def test_static_bearer_token(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream, api_key="ya29.static"), plugins=[plugboard_gemini]
    )
    client = gateway.openai()
    scripted_upstream.script(gemini_json(answer([{"text": "Hi"}])), path=GENERATE)
    scripted_upstream.script(gemini_sse([answer([{"text": "Hi"}])]), path=STREAM)
    assert (
        client.chat.completions.create(model="flash", messages=MESSAGES).choices[0].message.content
        == "Hi"
    )
    chunks = list(client.chat.completions.create(model="flash", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hi"
    whole, streamed = scripted_upstream.wait_for(2)
    assert (whole.path, streamed.path, streamed.query) == (GENERATE, STREAM, {"alt": "sse"})
    for sent in (whole, streamed):
        assert sent.headers["authorization"] == "Bearer ya29.static"
        assert "x-goog-api-key" not in sent.headers
        assert sent.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_embeddings_through_predict(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream, api_key="ya29.static"), plugins=[plugboard_gemini]
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
        path=PREDICT,
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


def test_service_account_token_is_fetched_once_and_reused(
    make_gateway: Callable[..., RunningGateway],
    scripted_upstream: ScriptedUpstream,
    service_account: Path,
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream, credentials_file=str(service_account)),
        plugins=[plugboard_gemini],
    )
    scripted_upstream.script(token_reply("ya29.from-service-account"), path="/token")
    scripted_upstream.script(
        gemini_json(answer([{"text": "one"}], usage=usage_metadata(1, 1))),
        gemini_json(answer([{"text": "two"}], usage=usage_metadata(1, 1))),
        path=GENERATE,
    )
    client = gateway.openai()
    for expected in ("one", "two"):
        answer_ = client.chat.completions.create(model="flash", messages=MESSAGES)
        assert answer_.choices[0].message.content == expected
    token_request, first, second = scripted_upstream.wait_for(3)
    assert token_request.path == "/token"
    form = parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = json.loads(base64.urlsafe_b64decode(form["assertion"][0].split(".")[1] + "=="))
    assert claims["iss"] == CLIENT_EMAIL
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    for sent in (first, second):
        assert sent.path == GENERATE
        assert sent.headers["authorization"] == "Bearer ya29.from-service-account"


def test_refused_service_account_is_502(
    make_gateway: Callable[..., RunningGateway],
    scripted_upstream: ScriptedUpstream,
    service_account: Path,
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream, credentials_file=str(service_account)),
        plugins=[plugboard_gemini],
    )
    scripted_upstream.script(
        Reply.json({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, 400),
        path="/token",
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.openai().chat.completions.create(model="flash", messages=MESSAGES)
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["code"] == "upstream_auth_error"
    assert [r.path for r in scripted_upstream.wait_for(1)] == ["/token"]


def test_vertex_errors_are_mapped(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream, api_key="ya29.expired"), plugins=[plugboard_gemini]
    )
    scripted_upstream.script(
        gemini_error(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED"),
        path=GENERATE,
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.openai().chat.completions.create(model="flash", messages=MESSAGES)
    assert caught.value.response.json()["error"]["code"] == "upstream_auth_error"


class TestTokenCache:
    """The token is cached until near expiry, then refreshed in the background."""

    def test_lifecycle(self, scripted_upstream: ScriptedUpstream, service_account: Path) -> None:
        now = [time.time()]
        scripted_upstream.script(
            token_reply("ya29.first"),
            token_reply("ya29.second"),
            token_reply("ya29.third"),
            path="/token",
        )
        credentials = GoogleCredentials(
            str(service_account), refresh_margin=300, min_validity=30, clock=lambda: now[0]
        )

        async def scenario() -> list[str]:
            seen = [await credentials.token(), await credentials.token()]
            expires_at = credentials.expires_at
            assert expires_at == pytest.approx(time.time() + 3599, abs=30)
            # Within the margin: the current token is served, a refresh starts behind it.
            now[0] = expires_at - 100
            seen.append(await credentials.token())
            assert credentials.refreshing is not None
            await credentials.refreshing
            seen.append(await credentials.token())
            # Past the minimum validity: the request waits for a new token.
            now[0] = credentials.expires_at - 10
            seen.append(await credentials.token())
            await credentials.aclose()
            return seen

        assert asyncio.run(scenario()) == [
            "ya29.first",
            "ya29.first",
            "ya29.first",
            "ya29.second",
            "ya29.third",
        ]
        assert len(scripted_upstream.requests) == 3

    def test_failed_background_refresh_keeps_the_token(
        self, scripted_upstream: ScriptedUpstream, service_account: Path
    ) -> None:
        now = [time.time()]
        scripted_upstream.script(
            token_reply("ya29.first"),
            Reply.json({"error": "invalid_grant"}, 400),
            token_reply("ya29.second"),
            path="/token",
        )
        credentials = GoogleCredentials(str(service_account), clock=lambda: now[0])

        async def scenario() -> list[str]:
            seen = [await credentials.token()]
            now[0] = credentials.expires_at - 100
            seen.append(await credentials.token())
            assert credentials.refreshing is not None
            await credentials.refreshing  # logged, not raised
            seen.append(await credentials.token())  # still the first; a new refresh starts
            assert credentials.refreshing is not None
            await credentials.refreshing
            seen.append(await credentials.token())
            await credentials.aclose()
            return seen

        assert asyncio.run(scenario()) == ["ya29.first", "ya29.first", "ya29.first", "ya29.second"]

    def test_foreground_failure_raises(
        self, scripted_upstream: ScriptedUpstream, service_account: Path
    ) -> None:
        scripted_upstream.script(Reply.json({"error": "invalid_grant"}, 400), path="/token")
        credentials = GoogleCredentials(str(service_account))
        with pytest.raises(UpstreamError) as caught:
            asyncio.run(credentials.token())
        assert caught.value.code == "upstream_auth_error"


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
    with pytest.raises(ConfigError, match=r"pip install 'plugboard-gemini\[vertex\]'"):
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
