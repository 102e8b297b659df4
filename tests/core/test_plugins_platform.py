"""The platform's contract with plugins: typed registrars, objects checked against their
Protocols when registered, conflicts reported, start-up and shutdown through pluggy with a
:class:`~plugbay.GatewayView` per plugin, background tasks."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Generator, Mapping
from typing import Any

import pytest

from plugbay import (
    AdapterRegister,
    AuthenticatorRegister,
    BaseProvider,
    CacheRegister,
    ConfigError,
    GatewayView,
    PluginError,
    RateLimiterRegister,
    hookimpl,
)
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay.testing import build_settings
from tests.core.support import CANNED_CONFIG, CHAT, CannedProvider, canned, make_distribution
from tests.helpers import clean_env, run_cli

CANNED_CHAT = {**CHAT, "model": "canned"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


TYPO_PLUGIN = """
from plugbay import hookimpl


class TypoAuth:
    async def authentciate(self, token, headers):
        return None


@hookimpl
def plugbay_register_authenticators(register):
    register.authenticator(TypoAuth())
"""


def gateway_of(*plugins: object, config: dict[str, Any] | None = None, tmp_path: Any) -> Gateway:
    settings = build_settings(config or CANNED_CONFIG, database=tmp_path / "db")
    return Gateway(settings, PluginManager.build(settings.plugins, list(plugins)))


class Registering:
    """Registers ``obj`` through the registration hook of ``kind``."""

    def __init__(self, kind: str, obj: object) -> None:
        self.kind, self.obj = kind, obj

    @hookimpl
    def plugbay_register_authenticators(self, register: AuthenticatorRegister) -> None:
        if self.kind == "authenticator":
            register.authenticator(self.obj)  # type: ignore[arg-type]

    @hookimpl
    def plugbay_register_rate_limiters(self, register: RateLimiterRegister) -> None:
        if self.kind == "rate limiter":
            register.rate_limiter(self.obj)  # type: ignore[arg-type]

    @hookimpl
    def plugbay_register_caches(self, register: CacheRegister) -> None:
        if self.kind == "cache":
            register.cache(self.obj)  # type: ignore[arg-type]


# --- objects checked against their Protocol ------------------------------------------------------


def test_a_typo_in_authenticate_stops_start_up_naming_plugin_and_method(tmp_path, monkeypatch):
    site = make_distribution(tmp_path / "site", "plugbay_typoauth", TYPO_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    settings = build_settings(CANNED_CONFIG, database=tmp_path / "db")
    settings.plugins.enabled = ["typoauth"]
    manager = PluginManager.build(settings.plugins)
    with pytest.raises(PluginError) as info:
        Gateway(settings, manager)
    assert str(info.value) == (
        'plugin "typoauth" (plugbay-typoauth 1.2.3): authenticator TypoAuth has no method '
        "`authenticate` (did you mean `authentciate`?); the Authenticator Protocol needs "
        "`async def authenticate`"
    )


@pytest.mark.slow
def test_a_typo_in_authenticate_fails_serve_without_a_traceback(tmp_path):
    site = make_distribution(tmp_path / "site", "plugbay_typoauth", TYPO_PLUGIN)
    env = clean_env(PYTHONPATH=str(site), PLUGBAY_PLUGINS="typoauth")
    result = run_cli("serve", "--port", "1", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert (
        'Error: plugin "typoauth" (plugbay-typoauth 1.2.3): authenticator TypoAuth' in result.stderr
    )
    assert "`authenticate`" in result.stderr
    assert "Traceback" not in result.stderr


class SyncAuth:
    def authenticate(self, token: str | None, headers: Mapping[str, str]) -> None:
        return None


class ShortAuth:
    async def authenticate(self, token: str | None) -> None:
        return None


class NoRelease:
    async def acquire(self, ctx: Any) -> None:
        pass


class NoSet:
    async def get(self, ctx: Any, request: Any) -> None:
        return None


class SyncStart:
    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> None:
        return None

    def start(self, gateway: GatewayView) -> None:
        pass


class ShortRegistryChanged:
    async def get(self, ctx: Any, request: Any) -> None:
        return None

    async def set(self, ctx: Any, request: Any, content: bytes) -> None:
        pass

    async def registry_changed(self) -> None:
        pass


@pytest.mark.parametrize(
    ("kind", "obj", "message"),
    [
        ("authenticator", SyncAuth(), "authenticator SyncAuth: `authenticate` must be an `async"),
        (
            "authenticator",
            ShortAuth(),
            "authenticator ShortAuth: `authenticate` must accept (token, headers)",
        ),
        ("rate limiter", NoRelease(), "rate limiter NoRelease has no method `release`"),
        ("cache", NoSet(), "cache NoSet has no method `set`"),
        ("authenticator", SyncStart(), "authenticator SyncStart: `start` must be an `async def`"),
        (
            "cache",
            ShortRegistryChanged(),
            "cache ShortRegistryChanged: `registry_changed` must accept (gateway)",
        ),
    ],
)
def test_registered_objects_are_checked(tmp_path, kind, obj, message):
    with pytest.raises(PluginError) as info:
        gateway_of(canned, Registering(kind, obj), tmp_path=tmp_path)
    assert str(info.value).startswith(f'plugin "Registering": {message}')


class NotAProvider:
    def __init__(self, ctx: Any) -> None:
        pass

    async def chat(self, request: Any) -> Any: ...

    async def chat_stream(self, request: Any) -> Any: ...

    async def aclose(self) -> None: ...


def test_an_adapter_class_is_checked_when_registered(tmp_path):
    class Adapters:
        @hookimpl
        def plugbay_register_adapters(self, register: AdapterRegister) -> None:
            register.adapter("canned", NotAProvider)  # type: ignore[arg-type]

    with pytest.raises(PluginError) as info:
        gateway_of(Adapters(), tmp_path=tmp_path)
    assert str(info.value).startswith(
        "plugin \"Adapters\": adapter 'canned': NotAProvider has no method `embeddings`"
    )


@pytest.mark.anyio
async def test_a_factorys_provider_is_checked_when_built(tmp_path):
    class Adapters:
        @hookimpl
        def plugbay_register_adapters(self, register: AdapterRegister) -> None:
            register.adapter("canned", lambda ctx: NotAProvider(ctx))  # type: ignore[arg-type, return-value]

    gateway = gateway_of(Adapters(), tmp_path=tmp_path)  # not a class: checked when built
    with pytest.raises(PluginError, match="NotAProvider has no method `embeddings`"):
        await gateway.start()
    await gateway.stop()


def test_the_first_party_style_passes(tmp_path):
    # BaseProvider subclasses, the master key and the 0.1 ``register(...)`` call form
    gateway = gateway_of(canned, tmp_path=tmp_path)
    assert list(gateway.adapters) == ["canned"]
    assert [type(a).__name__ for a in gateway.auth.authenticators] == ["MasterKey"]


# --- conflicts are never silent -----------------------------------------------------------------


def adapter_plugin(name: str, **marker: bool) -> object:
    class Provider(CannedProvider):
        def __init__(self, ctx: Any) -> None:
            super().__init__(ctx)
            self.text = name

    def plugbay_register_adapters(register: AdapterRegister) -> None:
        register.adapter("canned", Provider)

    plugin = type(name, (), {})()
    plugin.plugbay_register_adapters = hookimpl(**marker)(plugbay_register_adapters)  # type: ignore[attr-defined]
    return plugin


def test_two_plugins_with_one_adapter_type_warn_naming_both(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="plugbay.plugins"):
        gateway = gateway_of(
            adapter_plugin("First"), adapter_plugin("Second", tryfirst=True), tmp_path=tmp_path
        )
    assert gateway.adapters["canned"].plugin == "Second"
    [record] = [r for r in caplog.records if "adapter type" in r.getMessage()]
    assert record.getMessage() == (
        "adapter type 'canned' is registered by plugin \"First\" and by plugin 'Second'; "
        "'Second' serves it (the plugin called first: tryfirst, or registered later, wins)"
    )


def test_one_plugin_registering_a_type_twice_is_an_error(tmp_path):
    class Twice:
        @hookimpl
        def plugbay_register_adapters(self, register: AdapterRegister) -> None:
            register.adapter("canned", CannedProvider)
            register.adapter("canned", BaseProvider)

    with pytest.raises(PluginError, match="registers the adapter type 'canned' twice"):
        gateway_of(Twice(), tmp_path=tmp_path)


class MemoryCache:
    async def get(self, ctx: Any, request: Any) -> None:
        return None

    async def set(self, ctx: Any, request: Any, content: bytes) -> None:
        pass


def test_a_second_cache_warns_naming_both_plugins(tmp_path, caplog):
    first, second = MemoryCache(), MemoryCache()

    class One(Registering):
        pass

    class Two(Registering):
        pass

    with caplog.at_level(logging.WARNING, logger="plugbay.plugins"):
        gateway = gateway_of(canned, One("cache", second), Two("cache", first), tmp_path=tmp_path)
    assert gateway.cache is first  # the plugin called first (registered last)
    assert 'plugins "Two" and "One" both register a cache' in caplog.text


class Limiter:
    async def acquire(self, ctx: Any) -> None:
        pass

    async def release(self, ctx: Any) -> None:
        pass


def test_one_object_registered_twice_is_used_once(tmp_path, caplog):
    limiter = Limiter()

    class Again(Registering):
        pass

    with caplog.at_level(logging.WARNING, logger="plugbay.plugins"):
        gateway = gateway_of(
            canned,
            Registering("rate limiter", limiter),
            Again("rate limiter", limiter),
            tmp_path=tmp_path,
        )
    assert gateway.rate_limiters == (limiter,)
    assert 'plugin "Registering" registered the same rate limiter' in caplog.text
    assert "(also by plugin Again)" in caplog.text


# --- start-up and shutdown: through pluggy, each plugin its own view ----------------------------


class Watcher:
    """A view-taking start-up/shutdown pair, and a Lifecycle authenticator."""

    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @hookimpl
    def plugbay_startup(self, gateway: GatewayView) -> None:
        gateway.state["started"] = True
        self.log.append(("startup", gateway))

    @hookimpl
    async def plugbay_shutdown(self, gateway: GatewayView) -> None:
        self.log.append(("shutdown", gateway))

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> None:
        return None

    async def start(self, gateway: GatewayView) -> None:
        self.log.append(("start", gateway))

    async def registry_changed(self, gateway: GatewayView) -> None:
        self.log.append(("registry_changed", gateway))

    async def aclose(self) -> None:
        self.log.append(("aclose", None))

    @hookimpl
    def plugbay_register_authenticators(self, register: AuthenticatorRegister) -> None:
        register.authenticator(self)


class Other:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @hookimpl
    def plugbay_startup(self, gateway: GatewayView) -> None:
        self.log.append(("other startup", gateway))


@pytest.mark.anyio
async def test_each_plugin_gets_its_own_view_never_the_gateway(tmp_path):
    log: list[Any] = []
    config = {**CANNED_CONFIG, "Watcher": {"greeting": "hi"}}
    gateway = gateway_of(canned, Watcher(log), Other(log), config=config, tmp_path=tmp_path)
    await gateway.start()
    await gateway.stop()
    names = [entry[0] for entry in log]
    assert names[:4] == ["start", "registry_changed", "other startup", "startup"]
    assert names[-2:] == ["shutdown", "aclose"]
    views = {name: view for name, view in log if view is not None}
    for view in views.values():
        assert not isinstance(view, Gateway)
        assert callable(view.run_in_background)
    watcher, other = views["startup"], views["other startup"]
    assert (watcher.plugin, other.plugin) == ("Watcher", "Other")
    assert watcher.config == {"greeting": "hi"}
    assert other.config == {}
    assert watcher.state == {"started": True}
    assert other.state == {}
    # the lifecycle methods get the view of the plugin that registered the object
    assert views["start"] is watcher
    assert views["shutdown"] is watcher
    assert watcher.registry is gateway.registry
    assert watcher.settings is gateway.settings


@pytest.mark.anyio
async def test_a_wrapper_sees_start_up_and_tracing_works(tmp_path):
    log: list[str] = []

    class Inner:
        @hookimpl
        async def plugbay_startup(self) -> None:
            log.append("inner ran")

    class Wrapper:
        @hookimpl(wrapper=True)
        def plugbay_startup(self, gateway: GatewayView) -> Generator[None, list[Any], list[Any]]:
            log.append(f"before, as {gateway.plugin}")
            results = yield
            log.append(f"after: {len(results)} result(s)")
            return results

    gateway = gateway_of(canned, Inner(), Wrapper(), tmp_path=tmp_path)
    traced: list[str] = []
    gateway.plugins._pm.trace.root.setwriter(traced.append)
    undo = gateway.plugins._pm.enable_tracing()
    try:
        await gateway.start()
    finally:
        undo()
        await gateway.stop()
    assert log == ["before, as Wrapper", "after: 1 result(s)", "inner ran"]
    assert any("plugbay_startup" in line for line in traced)


@pytest.mark.anyio
async def test_a_failing_startup_wrapper_stops_start_up(tmp_path):
    class Wrapper:
        @hookimpl(wrapper=True)
        def plugbay_startup(self) -> Generator[None, list[Any], list[Any]]:
            yield
            raise RuntimeError("refused by the wrapper")

    gateway = gateway_of(canned, Wrapper(), tmp_path=tmp_path)
    with pytest.raises(RuntimeError, match="refused by the wrapper"):
        await gateway.start()
    await gateway.stop()


def test_a_wrapper_on_a_hook_the_core_calls_directly_is_refused(tmp_path):
    class Wrapper:
        @hookimpl(wrapper=True)
        def plugbay_register_caches(self) -> Generator[None, list[Any], list[Any]]:
            return (yield)

    with pytest.raises(PluginError, match="plugbay_register_caches cannot be implemented with"):
        gateway_of(canned, Wrapper(), tmp_path=tmp_path)


def test_the_view_parses_its_own_table(tmp_path):
    import msgspec

    class Table(msgspec.Struct, forbid_unknown_fields=True):
        limit: int = 1

    gateway = gateway_of(canned, config={**CANNED_CONFIG, "p": {"limit": 7}}, tmp_path=tmp_path)
    assert gateway.views.view("p").plugin_config(Table) == Table(limit=7)
    bad = gateway_of(canned, config={**CANNED_CONFIG, "p": {"limit": "7"}}, tmp_path=tmp_path)
    with pytest.raises(ConfigError, match=r"test config: p\.limit: Expected `int`, got `str`"):
        bad.views.view("p").plugin_config(Table)


# --- background tasks ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_background_tasks_are_cancelled_at_shutdown_and_failures_logged(tmp_path, caplog):
    events: list[str] = []
    running = asyncio.Event()

    async def forever() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def broken() -> None:
        raise RuntimeError("background boom")

    class Background:
        @hookimpl
        def plugbay_startup(self, gateway: GatewayView) -> None:
            gateway.state["task"] = gateway.run_in_background(forever(), name="forever")
            gateway.state["broken"] = gateway.run_in_background(broken())

        @hookimpl
        def plugbay_shutdown(self, gateway: GatewayView) -> None:
            events.append(f"shutdown, task done={gateway.state['task'].done()}")

    gateway = gateway_of(canned, Background(), tmp_path=tmp_path)
    with caplog.at_level(logging.ERROR, logger="plugbay.plugins"):
        await gateway.start()
        await running.wait()
        broken_task = gateway.state["Background"]["broken"]
        await asyncio.gather(broken_task, return_exceptions=True)
        await asyncio.sleep(0)  # the done callback runs on the next turn of the loop
        await gateway.stop()
    assert events == ["shutdown, task done=False", "cancelled"]
    assert gateway.background == set()
    assert "background task 'plugbay-plugin-Background' of plugin 'Background' failed" in (
        caplog.text
    )
    assert "background boom" in caplog.text


@pytest.mark.anyio
async def test_lifecycle_methods_are_resolved_once(tmp_path):
    calls: list[str] = []

    class Auth:
        async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> None:
            return None

        async def registry_changed(self, gateway: GatewayView) -> None:
            calls.append("changed")

        @hookimpl
        def plugbay_register_authenticators(self, register: AuthenticatorRegister) -> None:
            register.authenticator(self)

    plugin = Auth()
    gateway = gateway_of(canned, plugin, tmp_path=tmp_path)
    plugin.registry_changed = None  # type: ignore[method-assign, assignment]  # looked up already
    await gateway.start()
    await gateway.stop()
    assert calls == ["changed"]


def test_a_route_that_is_no_handler_is_refused(tmp_path):
    from plugbay import RouteRegister

    class Routes:
        @hookimpl
        def plugbay_register_routes(self, register: RouteRegister) -> None:
            register.route(lambda request: None)

    from plugbay._app import create_app

    settings = build_settings(CANNED_CONFIG, database=tmp_path / "db")
    with pytest.raises(PluginError, match=r'plugin "Routes": route .* is not a Litestar route'):
        create_app(settings, [canned, Routes()])


def test_the_view_and_lifecycle_are_documented_member_by_member():
    from pathlib import Path

    from plugbay._protocols import GatewayView, Lifecycle

    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    for protocol in (GatewayView, Lifecycle):
        members = [name for name in vars(protocol) if not name.startswith("_")]
        assert members, protocol
        for name in members:
            documented = re.search(rf"`[^`\n]*\b{name}\b[^`\n]*`", docs)
            assert documented, f"docs/plugins.md does not document {protocol.__name__}.{name}"
    for registrar in (
        "AdapterRegister",
        "AuthenticatorRegister",
        "RateLimiterRegister",
        "CacheRegister",
        "RouteRegister",
    ):
        assert f"`{registrar}`" in docs


def test_one_route_from_two_plugins_is_an_error_naming_both(tmp_path):
    from litestar import get

    from plugbay import RouteRegister
    from plugbay._app import create_app

    def plugin(name: str) -> object:
        @get("/hello", sync_to_thread=False)
        def hello() -> str:
            return name

        def plugbay_register_routes(register: RouteRegister) -> None:
            register.route(hello)

        obj = type(name, (), {})()
        obj.plugbay_register_routes = hookimpl(plugbay_register_routes)  # type: ignore[attr-defined]
        return obj

    settings = build_settings(CANNED_CONFIG, database=tmp_path / "db")
    with pytest.raises(PluginError) as info:
        create_app(settings, [canned, plugin("One"), plugin("Two")])
    assert str(info.value) == 'GET /hello is registered by plugin "Two" and by plugin "One"'
