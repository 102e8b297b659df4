"""``/health/live``, ``/health/ready`` and ``/health/detailed`` on a real gateway, with a
real scripted upstream behind a relay adapter."""

from __future__ import annotations

import importlib.metadata
import os
import threading
import time

import httpx
import openai
import pytest
from litestar.testing import TestClient

from plugbay import hookimpl
from plugbay._app import create_app
from plugbay.testing import Reply, build_settings
from tests.core.support import CHAT, relay, relay_config

WITHIN = 30.0


@pytest.fixture
def gw(make_gateway, scripted_upstream):
    return make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay])


@pytest.fixture
def admin(gw, master_key):
    with httpx.Client(
        base_url=gw.url, headers={"authorization": f"Bearer {master_key}"}, timeout=WITHIN
    ) as client:
        yield client


def provider(report: dict, name: str = "up") -> dict:
    [entry] = [p for p in report["providers"] if p["name"] == name]
    return entry


def wait_until(check, what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_live_answers_before_start_up_and_without_a_registry(tmp_path):
    app = create_app(build_settings(database=tmp_path / "db.sqlite"), plugins=[relay])
    client = TestClient(app)  # not entered: no start-up, the registry was never opened
    for path in ("/health/live", "/health"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
    assert not (tmp_path / "db.sqlite").exists()
    assert client.get("/health/ready").status_code == 503


def test_ready_says_draining_once_told_to_stop(gw):
    assert httpx.get(gw.url + "/health/ready").status_code == 200
    gw.gateway.draining = True
    try:
        ready = httpx.get(gw.url + "/health/ready")
        assert ready.status_code == 503
        assert ready.json() == {"status": "draining", "pid": os.getpid()}
        assert httpx.get(gw.url + "/health/live").status_code == 200  # still alive
    finally:
        gw.gateway.draining = False


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_detailed_needs_the_admin_credential(gw, key):
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = httpx.get(gw.url + "/health/detailed", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "providers" not in response.text


def test_detailed_counts_requests_errors_and_latency(gw, admin, scripted_upstream):
    client = gw.openai()
    before = provider(admin.get("/health/detailed").json())
    assert before["requests"] == 0
    assert before["state"] == "healthy"
    assert before["latency_ms_avg"] is None
    assert before["error_rate"] is None

    scripted_upstream.script(Reply.hang(0.2))  # answers {} after 200 ms: still a 200
    client.chat.completions.create(**CHAT)
    stream = client.chat.completions.create(**CHAT, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    for _ in range(3):
        scripted_upstream.script(Reply.error(500, "boom", type="server_error"))
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(**CHAT)

    report = admin.get("/health/detailed").json()
    up = provider(report)
    assert up["requests"] == 5
    assert up["errors"] == 3
    assert up["error_rate"] == pytest.approx(0.6)
    assert up["state"] == "degraded"
    assert up["in_flight"] == 0
    assert up["latency_ms_avg"] >= 100  # (>= 200 ms + a fast one) / 2
    assert up["ttft_ms_avg"] is not None
    assert up["ttft_ms_avg"] > 0
    assert up["models"] == ["org/team/model-1", "public"]
    assert up["type"] == "relay"

    client.chat.completions.create(**CHAT)  # one success: healthy again
    again = provider(admin.get("/health/detailed").json())
    assert again["state"] == "healthy"
    assert again["consecutive_errors"] == 0
    assert again["requests"] == 6


def test_client_errors_and_disconnects_are_not_provider_errors(gw, admin, scripted_upstream):
    with pytest.raises(openai.NotFoundError):  # unknown model: never reaches a provider
        gw.openai().chat.completions.create(**{**CHAT, "model": "nope"})
    scripted_upstream.script(Reply.error(400, "bad"))
    with pytest.raises(openai.BadRequestError):
        gw.openai().chat.completions.create(**CHAT)
    up = provider(admin.get("/health/detailed").json())
    assert (up["requests"], up["errors"], up["state"]) == (1, 0, "healthy")


def test_detailed_shows_streams_in_flight(gw, admin, scripted_upstream):
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    first = {**chunk, "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    scripted_upstream.script(Reply.sse([first, first], hang_after=1))  # then holds
    got_first = threading.Event()
    leave = threading.Event()

    def consume() -> None:
        with (
            httpx.Client(timeout=WITHIN) as http,
            http.stream(
                "POST",
                gw.url + "/v1/chat/completions",
                json={**CHAT, "stream": True},
                headers={"authorization": f"Bearer {gw.api_key}"},
            ) as response,
        ):
            for _ in response.iter_bytes():
                got_first.set()
                leave.wait(WITHIN)
                return

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        assert got_first.wait(WITHIN)
        assert provider(admin.get("/health/detailed").json())["in_flight"] == 1
    finally:
        leave.set()
        thread.join(WITHIN)
    wait_until(
        lambda: provider(admin.get("/health/detailed").json())["in_flight"] == 0,
        "the stream to finish",
    )
    up = provider(admin.get("/health/detailed").json())
    assert up["requests"] == 0  # the client left (499): no verdict on the provider


def test_detailed_lists_registry_and_plugins_with_versions(gw, admin):
    report = admin.get("/health/detailed").json()
    assert report["status"] == "ready"
    assert report["pid"] == os.getpid()
    registry = report["registry"]
    assert registry["status"] == "loaded"
    assert (registry["providers"], registry["models"], registry["unavailable"]) == (1, 2, [])
    versions = {p["name"]: p["version"] for p in report["plugins"]}
    assert versions["master_key"] == importlib.metadata.version("plugbay")
    assert report["components"] == []


class Limiter:
    def __init__(self, health) -> None:
        self.health = health

    async def acquire(self, ctx) -> None:
        pass

    async def release(self, ctx) -> None:
        pass


class Limiters:
    @hookimpl
    def plugbay_register_rate_limiters(self, register) -> None:
        async def connected():
            return {"status": "ok", "backend": "memory"}

        def broken():
            raise ConnectionError("redis://secret@host is down")

        register(Limiter(connected))
        register(Limiter(broken))


def test_components_report_their_own_health(make_gateway, scripted_upstream, master_key):
    gw = make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay, Limiters()])
    response = httpx.get(
        gw.url + "/health/detailed", headers={"authorization": f"Bearer {master_key}"}
    )
    ok, broken = response.json()["components"]
    assert ok == {
        "component": "tests.core.test_health.Limiter",
        "status": "ok",
        "backend": "memory",
    }
    assert broken == {
        "component": "tests.core.test_health.Limiter",
        "status": "error",
        "error": "ConnectionError",
    }
    assert "secret" not in response.text


def test_detailed_shows_an_undecryptable_provider(make_gateway, tmp_path, monkeypatch):
    from tests.core.support import CANNED_CONFIG, canned

    path = tmp_path / "gw.db"
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", "the-key-it-was-stored-with")
    gw = make_gateway(CANNED_CONFIG, plugins=[canned], database=path)
    headers = {"authorization": f"Bearer {gw.api_key}"}
    created = httpx.post(
        gw.url + "/admin/providers",
        json={"name": "up", "type": "canned", "api_key": "sk-SECRET-0123456789"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert httpx.post(
        gw.url + "/admin/models", json={"name": "m", "provider": "up"}, headers=headers
    ).is_success
    gw.stop()
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", "another-key-entirely")
    gw = make_gateway(CANNED_CONFIG, plugins=[canned], database=path)
    response = httpx.get(gw.url + "/health/detailed", headers=headers)
    report = response.json()
    assert report["status"] == "degraded"
    up = provider(report)
    assert up["state"] == "undecryptable"
    assert up["problem"]["code"] == "secret_key_mismatch"
    assert up["models"] == ["m"]
    assert provider(report, "c")["state"] == "healthy"
    assert "sk-SECRET-0123456789" not in response.text
    [listed] = [
        p
        for p in httpx.get(gw.url + "/admin/providers", headers=headers).json()["data"]
        if p["name"] == "up"
    ]
    assert (listed["state"], listed["capabilities"], listed["models"]) == (
        "undecryptable",
        None,
        [],
    )


class Refusing(Limiter):
    async def acquire(self, ctx) -> None:
        from plugbay import RateLimited

        raise RateLimited("Slow down.")


class RefusingPlugin:
    @hookimpl
    def plugbay_register_rate_limiters(self, register) -> None:
        register(Refusing(lambda: {"status": "ok"}))


def test_requests_the_gateway_refused_are_not_the_providers(
    make_gateway, scripted_upstream, master_key
):
    gw = make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay, RefusingPlugin()])
    with pytest.raises(openai.RateLimitError):
        gw.openai().chat.completions.create(**CHAT)
    response = httpx.get(
        gw.url + "/health/detailed", headers={"authorization": f"Bearer {master_key}"}
    )
    up = provider(response.json())
    assert (up["requests"], up["in_flight"], up["latency_ms_avg"]) == (0, 0, None)
    assert scripted_upstream.requests == []
