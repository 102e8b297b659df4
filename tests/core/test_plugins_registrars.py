"""Typed registrars: registered objects checked against their Protocols, conflicts reported."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pytest

from plugbay import (
    AdapterRegister,
    AuthenticatorRegister,
    BaseProvider,
    CacheRegister,
    GatewayView,
    PluginError,
    RateLimiterRegister,
    hookimpl,
)
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay.testing import build_settings
from tests.core.support import CANNED_CONFIG, CannedProvider, canned, make_distribution
from tests.helpers import clean_env, run_cli


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
