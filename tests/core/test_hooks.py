"""Each hookspec, exercised through a real gateway by small plugins defined here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import msgspec
import openai
import pytest
from litestar import get

from plugbay import (
    PermissionDenied,
    Principal,
    RateLimited,
    RequestContext,
    hookimpl,
)
from plugbay._app import create_app
from plugbay._plugins import PluginManager
from plugbay._settings import ConfigError
from plugbay.testing import GatewayServer, build_settings
from tests.core.support import CANNED_CONFIG, CHAT, canned, relay, relay_config

CANNED_CHAT = {**CHAT, "model": "canned"}


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


# --- registration hooks -------------------------------------------------------------------------


class Counting:
    """Implements every registration hook and counts the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    @hookimpl
    def plugbay_register_adapters(self, register: Callable[..., None], settings: Any) -> None:
        self._count("adapters")
        assert settings.server.max_body_size > 0

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        self._count("authenticators")

    @hookimpl
    def plugbay_register_rate_limiters(self, register: Callable[[Any], None]) -> None:
        self._count("rate_limiters")

    @hookimpl
    def plugbay_register_caches(self, register: Callable[[Any], None]) -> None:
        self._count("caches")

    @hookimpl
    def plugbay_register_routes(self, register: Callable[[Any], None]) -> None:
        self._count("routes")


def test_registration_hooks_run_once_and_never_per_request(make_client, master_key, monkeypatch):
    counting = Counting()
    finished: list[Any] = []

    class Listener:
        @hookimpl
        def plugbay_request_finished(self, event: Any) -> None:
            finished.append(event)

    gw = make_client(CANNED_CONFIG, plugins=[canned, counting, Listener()])
    assert counting.calls == dict.fromkeys(
        ["adapters", "authenticators", "rate_limiters", "caches", "routes"], 1
    )

    # From here on, any use of pluggy fails: the request path must not touch it.
    class Forbidden:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"pluggy used on the request path: {name}")

    monkeypatch.setattr(gw.gateway.plugins, "_pm", Forbidden())
    client = gw.openai()
    for _ in range(3):
        assert client.chat.completions.create(**CANNED_CHAT).choices[0].message.content
    assert (
        "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(**CANNED_CHAT, stream=True)
        )
        == "canned answer"
    )
    assert [m.id for m in client.models.list().data] == ["canned"]
    assert len(finished) == 4
    assert set(counting.calls.values()) == {1}


def test_register_adapters_with_options(make_client):
    gw = make_client(
        {
            "providers": [{"name": "c", "type": "canned", "text": "from options"}],
            "models": [{"name": "canned", "provider": "c"}],
        },
        plugins=[canned],
    )
    reply = gw.openai().chat.completions.create(**CANNED_CHAT)
    assert reply.choices[0].message.content == "from options"


def test_register_adapters_options_are_validated(tmp_path):
    settings = build_settings(
        {
            "providers": [{"name": "c", "type": "canned", "txt": "typo"}],
            "models": [{"name": "canned", "provider": "c"}],
        },
        database=tmp_path / "db",
    )
    app = create_app(settings, plugins=[canned])
    with pytest.raises(ConfigError) as info:
        app.state.gateway.check_config()
    assert str(info.value) == "test config: providers[0].txt: Object contains unknown field `txt`"


def test_register_adapters_first_plugin_wins(make_client):
    from tests.core.support import CannedProvider

    class OverrideProvider(CannedProvider):
        def __init__(self, ctx: Any) -> None:
            self.ctx, self.text = ctx, "overridden"

    class Override:
        @hookimpl(tryfirst=True)
        def plugbay_register_adapters(self, register: Callable[..., None]) -> None:
            register("canned", OverrideProvider)

    gw = make_client(CANNED_CONFIG, plugins=[canned, Override()])
    assert gw.gateway.adapters["canned"].plugin == "Override"
    reply = gw.openai().chat.completions.create(**CANNED_CHAT)
    assert reply.choices[0].message.content == "overridden"


def test_unknown_adapter_type_is_a_config_error(tmp_path):
    settings = build_settings(
        {"providers": [{"name": "x", "type": "nope"}], "models": []}, database=tmp_path / "db"
    )
    app = create_app(settings, plugins=[canned])
    with pytest.raises(ConfigError) as info:
        app.state.gateway.check_config()
    assert "providers[0].type" in str(info.value)
    assert "'nope'" in str(info.value)
    assert "canned" in str(info.value)  # what is installed


class KeyAuth:
    """Accepts ``sk-team-*`` keys, limited to model ``canned``; refuses ``sk-banned``."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        self.seen.append(token)
        if token == "sk-banned":
            raise PermissionDenied("This key is suspended.", code="key_suspended")
        if token and token.startswith("sk-team-"):
            return Principal(key_id=token, name="team", models=("canned",), scopes=None)
        return None

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)


def test_register_authenticators(make_client, master_key):
    key_auth = KeyAuth()
    gw = make_client(
        {
            "providers": [{"name": "c", "type": "canned"}],
            "models": [{"name": "canned", "provider": "c"}, {"name": "other", "provider": "c"}],
        },
        plugins=[canned, key_auth],
    )
    team = gw.openai(api_key="sk-team-1")
    assert team.chat.completions.create(**CANNED_CHAT).model == "canned"
    assert [m.id for m in team.models.list().data] == ["canned"]  # only what it may use
    with pytest.raises(openai.PermissionDeniedError) as info:
        team.chat.completions.create(**{**CANNED_CHAT, "model": "other"})
    assert info.value.code == "model_not_allowed"
    with pytest.raises(openai.PermissionDeniedError) as info:
        gw.openai(api_key="sk-banned").models.list()
    assert info.value.code == "key_suspended"
    # Plugins are asked before the built-in master key, which still works.
    assert gw.openai().chat.completions.create(**{**CANNED_CHAT, "model": "other"})
    assert key_auth.seen[-1] == master_key
    with pytest.raises(openai.AuthenticationError):
        gw.openai(api_key="sk-nobody-0000000000").models.list()


class Limiter:
    def __init__(self, admit: int) -> None:
        self.admit = admit
        self.acquired: list[str] = []
        self.released: list[tuple[str, int, Any]] = []

    async def acquire(self, ctx: RequestContext) -> None:
        if len(self.acquired) >= self.admit:
            raise RateLimited("Too many requests for this test.", retry_after=2.5)
        self.acquired.append(ctx.request_id)
        ctx.response_headers["x-ratelimit-remaining-requests"] = str(
            self.admit - len(self.acquired)
        )

    async def release(self, ctx: RequestContext) -> None:
        self.released.append((ctx.request_id, ctx.status, ctx.usage))

    @hookimpl
    def plugbay_register_rate_limiters(self, register: Callable[[Any], None]) -> None:
        register(self)


def test_register_rate_limiters(make_client, master_key):
    limiter = Limiter(admit=2)
    gw = make_client(CANNED_CONFIG, plugins=[canned, limiter])
    with gw.http() as http:
        first = http.post("/v1/chat/completions", json=CANNED_CHAT)
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        streamed = http.post("/v1/chat/completions", json={**CANNED_CHAT, "stream": True})
        assert streamed.headers["x-ratelimit-remaining-requests"] == "0"
        assert streamed.content.endswith(b"data: [DONE]\n\n")
        refused = http.post("/v1/chat/completions", json=CANNED_CHAT)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "3"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    # release: exactly once per admitted request, after it finished, with its usage.
    assert [r[0] for r in limiter.released] == limiter.acquired
    assert all(r[1] == 200 and r[2].total_tokens == 3 for r in limiter.released)
    with pytest.raises(openai.RateLimitError):
        gw.openai().chat.completions.create(**CANNED_CHAT)


def test_a_refusing_limiter_gives_back_what_others_granted(make_client, master_key):
    class Strict(Limiter):  # a plugin's name is its class name: one each
        pass

    generous, strict = Limiter(admit=10), Strict(admit=0)
    gw = make_client(CANNED_CONFIG, plugins=[canned, strict, generous])
    response = gw.http(auth=False).post(
        "/v1/chat/completions", json=CANNED_CHAT, headers=auth(master_key)
    )
    assert response.status_code == 429
    assert len(generous.acquired) == 1
    assert [r[0] for r in generous.released] == generous.acquired


class DictCache:
    def __init__(self) -> None:
        self.store: dict[bytes, bytes] = {}
        self.gets = 0

    @staticmethod
    def _key(request: Any) -> bytes:
        return msgspec.json.encode(request.body, order="sorted")

    async def get(self, ctx: RequestContext, request: Any) -> bytes | None:
        self.gets += 1
        return self.store.get(self._key(request))

    async def set(self, ctx: RequestContext, request: Any, content: bytes) -> None:
        self.store[self._key(request)] = content

    @hookimpl
    def plugbay_register_caches(self, register: Callable[[Any], None]) -> None:
        register(self)


def test_register_caches(make_client, scripted_upstream, master_key):
    cache = DictCache()
    events: list[Any] = []

    class Listener:
        @hookimpl
        def plugbay_request_finished(self, event: Any) -> None:
            events.append(event)

    gw = make_client(relay_config(scripted_upstream.base_url), plugins=[relay, cache, Listener()])
    client = gw.openai()
    first = client.chat.completions.create(**CHAT)
    second = client.chat.completions.create(**CHAT)
    assert first.model == second.model == "public"
    assert second.choices[0].message.content == "hello there"
    assert len(scripted_upstream.requests) == 1  # the second came from the cache
    client.embeddings.create(model="public", input="x")
    client.embeddings.create(model="public", input="x")
    assert len(scripted_upstream.requests) == 2
    # A completed stream is stored too, and the next stream replays it.
    streamed = [
        "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(**{**CHAT, "temperature": 0.1}, stream=True)
            if c.choices
        )
        for _ in range(2)
    ]
    assert streamed == ["hello there", "hello there"]
    assert len(scripted_upstream.requests) == 3
    deadline = time.monotonic() + 30  # a stream's event follows its last chunk
    while len(events) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [e.cache_status for e in events] == ["miss", "hit", "miss", "hit", "miss", "hit"]
    # Errors are never stored.
    from plugbay.testing import Reply

    scripted_upstream.script(Reply.error(500, "boom"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**{**CHAT, "temperature": 0.5})
    assert client.chat.completions.create(**{**CHAT, "temperature": 0.5}).model == "public"


def test_a_failing_cache_does_not_fail_requests(make_client, master_key):
    class Broken(DictCache):
        async def get(self, ctx: RequestContext, request: Any) -> bytes | None:
            raise RuntimeError("cache down")

        async def set(self, ctx: RequestContext, request: Any, content: bytes) -> None:
            raise RuntimeError("cache down")

    gw = make_client(CANNED_CONFIG, plugins=[canned, Broken()])
    assert gw.openai().chat.completions.create(**CANNED_CHAT).model == "canned"


def test_register_routes(make_client, master_key):
    @get("/extra/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    class Routes:
        @hookimpl
        def plugbay_register_routes(self, register: Callable[[Any], None]) -> None:
            register(hello)

    gw = make_client(CANNED_CONFIG, plugins=[canned, Routes()])
    response = gw.http(auth=False).get("/extra/hello")
    assert response.json() == {"hello": "world"}
    assert response.headers["x-request-id"]


def test_register_commands_in_process():
    import click
    from click.testing import CliRunner

    class Commands:
        @hookimpl
        def plugbay_register_commands(self, cli: click.Group) -> None:
            @cli.command()
            @click.argument("name")
            def greet(name: str) -> None:
                click.echo(f"hello {name}")

    @click.group()
    def group() -> None:
        pass

    manager = PluginManager.build(build_settings().plugins, [Commands()])
    manager.register_commands(group)
    result = CliRunner().invoke(group, ["greet", "plugbay"])
    assert result.exit_code == 0
    assert result.output == "hello plugbay\n"


# --- lifecycle hooks ----------------------------------------------------------------------------


class Lifecycle:
    def __init__(self) -> None:
        self.log: list[str] = []

    @hookimpl
    def plugbay_startup(self, gateway: Any) -> None:
        self.log.append(f"sync startup {gateway.plugin} state={gateway.state}")

    @hookimpl
    def plugbay_shutdown(self, gateway: Any) -> None:
        self.log.append("sync shutdown")


class AsyncLifecycle:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    @hookimpl
    async def plugbay_startup(self, gateway: Any) -> None:
        await asyncio.sleep(0.01)
        self.log.append("async startup")

    @hookimpl
    async def plugbay_shutdown(self) -> None:
        await asyncio.sleep(0.01)
        self.log.append("async shutdown")


def test_startup_and_shutdown_sync_and_async(make_client):
    sync = Lifecycle()
    both = [sync, AsyncLifecycle(sync.log)]
    gw = make_client(CANNED_CONFIG, plugins=[canned, *both])
    # Startup runs after the registry is loaded, before the first request.
    assert sorted(sync.log) == ["async startup", "sync startup Lifecycle state={}"]
    gw.openai().chat.completions.create(**CANNED_CHAT)
    gw.stop()
    assert sorted(sync.log[2:]) == ["async shutdown", "sync shutdown"]


def test_a_failing_startup_stops_start_up(tmp_path):
    class Broken:
        @hookimpl
        async def plugbay_startup(self) -> None:
            raise RuntimeError("cannot start")

    app = create_app(build_settings(CANNED_CONFIG, database=tmp_path / "db"), [canned, Broken()])
    server = GatewayServer(app)
    with pytest.raises(RuntimeError, match="failed to start"):
        server.start()
    server.stop()


def test_a_failing_shutdown_is_logged_and_others_still_run(make_client, caplog):
    sync = Lifecycle()

    class Broken:
        @hookimpl
        def plugbay_shutdown(self) -> None:
            raise RuntimeError("flush failed")

    gw = make_client(CANNED_CONFIG, plugins=[canned, sync, Broken()])
    with caplog.at_level(logging.ERROR, logger="plugbay._plugins"):
        gw.stop()
    assert "sync shutdown" in sync.log
    assert "plugin Broken failed during shutdown" in caplog.text


def test_shutdown_runs_after_in_flight_requests(make_gateway, scripted_upstream, master_key):
    import threading

    from plugbay.testing import Reply

    order: list[str] = []

    class Watch:
        @hookimpl
        def plugbay_shutdown(self) -> None:
            order.append("shutdown")

    gw = make_gateway(relay_config(scripted_upstream.base_url), plugins=[relay, Watch()])
    scripted_upstream.script(Reply.json({"slow": True}, delay=0.5))
    result: list[int] = []

    def call() -> None:
        response = httpx.post(gw.url + "/v1/chat/completions", json=CHAT, headers=auth(master_key))
        result.append(response.status_code)
        order.append("answered")

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 30
    while not scripted_upstream.requests:  # the request is in flight
        assert time.monotonic() < deadline
        time.sleep(0.01)
    gw.stop()
    thread.join(30)
    assert result == [200]
    assert order == ["answered", "shutdown"]


def test_request_finished(make_client, master_key):
    seen: list[tuple[Any, str]] = []
    done = asyncio.Event()

    class Sync:
        @hookimpl
        def plugbay_request_finished(self, event: Any, ctx: RequestContext) -> None:
            seen.append((event, "sync"))

    class Async:
        @hookimpl
        async def plugbay_request_finished(self, ctx: RequestContext, event: Any) -> None:
            await asyncio.sleep(0.05)
            seen.append((event, "async"))

    gw = make_client(CANNED_CONFIG, plugins=[canned, Sync(), Async()])
    with gw.http() as http:
        http.post("/v1/chat/completions", json=CANNED_CHAT, headers={"x-request-id": "r1"})
        http.post("/v1/chat/completions", json={**CANNED_CHAT, "stream": True})
        http.post("/v1/embeddings", json={"model": "canned", "input": "x"})
        http.post("/v1/chat/completions", json={**CANNED_CHAT, "model": "nope"})
        gw.http(auth=False).post("/v1/chat/completions", json=CANNED_CHAT)  # no key
    gw.stop()  # waits for the async listeners
    assert not done.is_set()
    sync_events = [e for e, kind in seen if kind == "sync"]
    async_events = [e for e, kind in seen if kind == "async"]
    assert len(sync_events) == len(async_events) == 5
    ok, stream, embeddings, missing, anonymous = sync_events
    assert ok.request_id == "r1"
    assert (ok.endpoint, ok.status, ok.model, ok.provider, ok.stream) == (
        "chat",
        200,
        "canned",
        "c",
        False,
    )
    assert ok.key_id == "master"
    assert ok.usage.total_tokens == 3
    assert ok.latency_ms > 0
    assert ok.time_to_first_chunk_ms is not None
    assert (stream.stream, stream.status, stream.usage.total_tokens) == (True, 200, 3)
    assert (embeddings.endpoint, embeddings.status, embeddings.error_code) == (
        "embeddings",
        400,
        "unsupported_endpoint",
    )
    assert (missing.status, missing.error_code, missing.model) == (404, "model_not_found", None)
    assert (anonymous.status, anonymous.key_id) == (401, None)


def test_plugins_without_settings_argument(make_client):
    # Implementations may take any subset of a hook's arguments.
    class NoArgs:
        @hookimpl
        def plugbay_startup(self) -> None:
            pass

        @hookimpl
        def plugbay_request_finished(self) -> None:
            pass

    gw = make_client(CANNED_CONFIG, plugins=[canned, NoArgs()])
    assert gw.openai().chat.completions.create(**CANNED_CHAT).model == "canned"
