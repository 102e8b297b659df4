"""Vertex AI credentials through google-auth (the ``vertex`` extra): a real service-account
flow against a token endpoint on 127.0.0.1, and the token cache."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import openai
import pytest

import plugbay_gemini

pytest.importorskip("google.auth", reason="needs the vertex extra: plugbay-gemini[vertex]")

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gemini_wire import VERTEX_GENERATE, answer, gemini_json, usage_metadata, vertex_config

from plugbay import UpstreamError
from plugbay.testing import Reply, RunningGateway, ScriptedUpstream
from plugbay_gemini._auth import GoogleCredentials

CLIENT_EMAIL = "gateway@my-proj.iam.gserviceaccount.com"
MESSAGES = [{"role": "user", "content": "hi"}]


def token_reply(token: str, expires_in: int = 3599) -> Reply:
    return Reply.json({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"})


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


def test_service_account_token_is_fetched_once_and_reused(
    make_gateway: Callable[..., RunningGateway],
    scripted_upstream: ScriptedUpstream,
    service_account: Path,
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream.url, credentials_file=str(service_account)),
        plugins=[plugbay_gemini],
    )
    scripted_upstream.script(token_reply("ya29.from-service-account"), path="/token")
    scripted_upstream.script(
        gemini_json(answer([{"text": "one"}], usage=usage_metadata(1, 1))),
        gemini_json(answer([{"text": "two"}], usage=usage_metadata(1, 1))),
        path=VERTEX_GENERATE,
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
        assert sent.path == VERTEX_GENERATE
        assert sent.headers["authorization"] == "Bearer ya29.from-service-account"


def test_refused_service_account_is_502(
    make_gateway: Callable[..., RunningGateway],
    scripted_upstream: ScriptedUpstream,
    service_account: Path,
) -> None:
    gateway = make_gateway(
        vertex_config(scripted_upstream.url, credentials_file=str(service_account)),
        plugins=[plugbay_gemini],
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
