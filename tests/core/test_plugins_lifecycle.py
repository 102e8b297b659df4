"""Start-up and shutdown through pluggy, a :class:`~plugbay.GatewayView` per plugin, the
:class:`~plugbay.Lifecycle` methods and background tasks."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Generator, Mapping
from typing import Any

import pytest

from plugbay import (
    AuthenticatorRegister,
    ConfigError,
    GatewayView,
    PluginError,
    hookimpl,
)
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay.testing import build_settings
from tests.core.support import CANNED_CONFIG, canned


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def gateway_of(*plugins: object, config: dict[str, Any] | None = None, tmp_path: Any) -> Gateway:
    settings = build_settings(config or CANNED_CONFIG, database=tmp_path / "db")
    return Gateway(settings, PluginManager.build(settings.plugins, list(plugins)))


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
