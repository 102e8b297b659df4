"""The plugin manager facade: discovery, allow- and block-lists, listing, one method per hook.

The core calls hooks only through :class:`PluginManager`; nothing else touches pluggy.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import pluggy

from plugbay import hookspecs
from plugbay._registrars import (
    AdapterRegister,
    AdapterType,
    AuthenticatorRegister,
    BreakerStoreRegister,
    CacheRegister,
    PluginError,
    RateLimiterRegister,
    Registered,
    RouteRegister,
    StrategyRegister,
    _Register,
)
from plugbay._utils import await_me_maybe

if TYPE_CHECKING:
    import click

    from plugbay._protocols import GatewayView
    from plugbay._registry.owners import History
    from plugbay._settings import PluginSettings, Settings

__all__ = ["AdapterType", "PluginInfo", "PluginLoadError", "PluginManager", "ViewSource"]

log = logging.getLogger("plugbay.plugins")

DEFAULT_PLUGINS = ("plugbay._default_plugins.master_key", "plugbay._default_plugins.strategies")


class PluginLoadError(PluginError):
    """A plugin could not be imported or registered; the message names it."""


class PluginInfo(msgspec.Struct):
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    builtin: bool = False


class PluginManager:
    """Wraps a ``pluggy.PluginManager``; build one per app (there is no global)."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager("plugbay")
        self._pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}

    @classmethod
    def build(
        cls,
        settings: PluginSettings,
        plugins: Sequence[object] | None = None,
    ) -> PluginManager:
        """The default plugins, then ``plugins`` if given, else the installed entry points."""
        manager = cls()
        disabled = set(settings.disabled)
        for module_name in DEFAULT_PLUGINS:
            short = module_name.rsplit(".", 1)[-1]
            if short not in disabled:
                manager.register(importlib.import_module(module_name), short, builtin=True)
        if plugins is not None:
            for plugin in plugins:
                manager.register(plugin)
        else:
            manager.load_entry_points(settings.enabled, disabled)
        try:
            manager._pm.check_pending()  # a misspelled hook name fails here, not silently
        except pluggy.PluginValidationError as exc:
            name = manager._pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginLoadError(f'Error in plugin "{name}": {exc}') from None
        return manager

    def load_entry_points(self, enabled: Iterable[str] | None, disabled: set[str]) -> None:
        allowed = None if enabled is None else set(enabled)
        for entry_point in importlib.metadata.entry_points(group="plugbay"):
            name = entry_point.name
            if name in disabled or (allowed is not None and name not in allowed):
                log.debug("plugin %s not loaded (disabled)", name)
                continue
            dist = entry_point.dist
            try:
                plugin = entry_point.load()
            except Exception as exc:
                where = f" (distribution {dist.name} {dist.version})" if dist else ""
                raise PluginLoadError(
                    f'Error importing plugin "{name}"{where}: {type(exc).__name__}: {exc}'
                ) from exc
            self.register(plugin, name, dist.name if dist else None, dist.version if dist else None)

    def register(
        self,
        plugin: object,
        name: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
        *,
        builtin: bool = False,
    ) -> None:
        if name is None:
            name = getattr(plugin, "__name__", None) or type(plugin).__name__
            name = name.rsplit(".", 1)[-1].removeprefix("plugbay_")
        try:
            self._pm.register(plugin, name=name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginLoadError(f'Error registering plugin "{name}": {exc}') from None
        self._bind_views(plugin)
        hooks = sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ())
        if distribution is None and isinstance(plugin, ModuleType) and not builtin:
            distribution, version = _distribution_of(plugin)
        self._info[name] = PluginInfo(name, distribution, version, hooks, builtin)

    def list_plugins(self) -> list[PluginInfo]:
        return sorted(self._info.values(), key=lambda info: (info.builtin, info.name))

    def label(self, name: str) -> str:
        """How errors and warnings name a plugin: ``"keys" (plugbay-keys 0.1.0)``."""
        info = self._info.get(name)
        if info is None or info.distribution is None:
            return f'"{name}"'
        return f'"{name}" ({info.distribution} {info.version})'

    # --- registration hooks: each implementation gets a registrar bound to its plugin -----

    def adapters(self, settings: Settings) -> dict[str, AdapterType]:
        found: dict[str, AdapterType] = {}
        for plugin_name, impl in self._impls("plugbay_register_adapters"):
            register = AdapterRegister(plugin_name, found, self.label(plugin_name))
            self._call(impl, register=register, settings=settings)
        return found

    def strategies(self, settings: Settings) -> dict[str, Callable[[], Any]]:
        """Routing strategy factories by name (the first plugin called wins a name)."""
        found: dict[str, tuple[Callable[[], Any], str]] = {}
        for plugin_name, impl in self._impls("plugbay_register_strategies"):
            register = StrategyRegister(plugin_name, found, self.label(plugin_name))
            self._call(impl, register=register, settings=settings)
        return {name: factory for name, (factory, _) in found.items()}

    def breaker_stores(self, settings: Settings) -> dict[str, Callable[..., Any]]:
        """Breaker store factories by name (the first plugin called wins a name)."""
        found: dict[str, tuple[Callable[..., Any], str]] = {}
        for plugin_name, impl in self._impls("plugbay_register_breaker_stores"):
            register = BreakerStoreRegister(plugin_name, found, self.label(plugin_name))
            self._call(impl, register=register, settings=settings)
        return {name: factory for name, (factory, _) in found.items()}

    def authenticators(self, settings: Settings) -> list[Registered]:
        return self._collect("plugbay_register_authenticators", AuthenticatorRegister, settings)

    def rate_limiters(self, settings: Settings) -> list[Registered]:
        return self._collect("plugbay_register_rate_limiters", RateLimiterRegister, settings)

    def caches(self, settings: Settings) -> list[Registered]:
        """Every cache offered; the first is used, and any other is warned about, by name."""
        caches = self._collect("plugbay_register_caches", CacheRegister, settings)
        for ignored in caches[1:]:
            log.warning(
                "plugins %s and %s both register a cache; only the first one's is used "
                "(disable one of them, or order them with tryfirst)",
                self.label(caches[0].plugin),
                self.label(ignored.plugin),
            )
        return caches

    def routes(self, settings: Settings) -> list[Any]:
        """The route handlers; one path and method claimed by two plugins stops start-up,
        naming both (Litestar would refuse the second without saying whose it is)."""
        routes = self._collect("plugbay_register_routes", RouteRegister, settings)
        claimed: dict[tuple[str, str], str] = {}
        for route in routes:
            for path in getattr(route.obj, "paths", ()):
                for method in sorted(getattr(route.obj, "http_methods", ())):
                    owner = claimed.setdefault((path, method), route.plugin)
                    if owner != route.plugin:
                        raise PluginError(
                            f"{method} {path} is registered by plugin {self.label(owner)} "
                            f"and by plugin {self.label(route.plugin)}"
                        )
        return [route.obj for route in routes]

    def asgi_wrappers(self, settings: Settings) -> list[Callable[[Any], Any]]:
        """The ``plugbay_wrap_asgi`` middlewares, outermost first."""
        return list(self._pm.hook.plugbay_wrap_asgi(settings=settings))

    def migrations(self) -> list[History]:
        """The histories plugins declared for their own tables (``plugbay_register_migrations``)."""
        from plugbay._registry.owners import MigrationRegister

        found: dict[str, History] = {}
        for plugin_name, impl in self._impls("plugbay_register_migrations"):
            self._call(impl, register=MigrationRegister(plugin_name, found))
        return list(found.values())

    def register_commands(self, cli: click.Group) -> None:
        self._pm.hook.plugbay_register_commands(cli=cli)

    # --- lifecycle and event hooks -------------------------------------------------------------

    async def startup(self, views: ViewSource) -> None:
        """``plugbay_startup`` through pluggy (wrappers and tracing see it), each
        implementation given its own plugin's view; then the awaitables, in call order."""
        for result in self._pm.hook.plugbay_startup(gateway=views):
            await await_me_maybe(result)

    async def shutdown(self, views: ViewSource) -> None:
        """``plugbay_shutdown`` through pluggy; a failing implementation is logged and the
        others still run."""
        try:
            results = self._pm.hook.plugbay_shutdown(gateway=views)
        except Exception:  # a wrapper's own failure: the ones it wrapped already ran
            log.exception("a plugbay_shutdown wrapper failed")
            return
        for result in results:
            await await_me_maybe(result)

    def request_finished_listeners(self) -> list[Callable[..., Any]]:
        """The ``plugbay_request_finished`` implementations, as ``f(event, ctx)`` callables.

        The one event hook the core calls directly: it runs per request, and pluggy must
        not. (Registration hooks are called one implementation at a time too, each with a
        registrar bound to its plugin; they run once.)
        """
        listeners = []
        for _, impl in self._impls("plugbay_request_finished"):
            names = impl.argnames
            function = impl.function
            if names == ("event", "ctx"):
                listeners.append(function)
            else:
                listeners.append(_adapt(function, names))
        return listeners

    # --- internals ---------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[tuple[str, pluggy.HookImpl]]:
        """Implementations in call order (pluggy's: tryfirst, then newest, trylast last)."""
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        for impl in impls:
            if impl.wrapper or impl.hookwrapper:  # the core calls these one by one
                raise PluginLoadError(
                    f"Error in plugin {self.label(impl.plugin_name)}: {hook} cannot be "
                    "implemented with wrapper=True (only plugbay_startup and plugbay_shutdown "
                    "are called through pluggy)"
                )
        return [(impl.plugin_name, impl) for impl in reversed(impls)]

    @staticmethod
    def _call(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        return impl.function(*(kwargs[name] for name in impl.argnames))

    def _collect(self, hook: str, kind: type[_Register], settings: Settings) -> list[Registered]:
        found: list[Registered] = []
        for plugin_name, impl in self._impls(hook):
            self._call(
                impl, register=kind(plugin_name, found, self.label(plugin_name)), settings=settings
            )
        return found

    def _bind_views(self, plugin: object) -> None:
        """Give each start-up/shutdown implementation of ``plugin`` its own plugin's view.

        pluggy passes every implementation the same arguments; the core passes a
        :class:`ViewSource`, which this wrapper turns into the implementation's plugin's
        :class:`~plugbay.GatewayView` as pluggy calls it.
        """
        for hook in ("plugbay_startup", "plugbay_shutdown"):
            for impl in getattr(self._pm.hook, hook).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if "gateway" in impl.argnames:
                    impl.function = _with_view(impl.function, impl.argnames, impl.plugin_name)
                if hook == "plugbay_shutdown" and not (impl.wrapper or impl.hookwrapper):
                    impl.function = _logging_failures(impl.function, impl.plugin_name)


class ViewSource(Protocol):
    """What the core passes as ``gateway`` to the start-up and shutdown hooks."""

    def view(self, plugin: str) -> GatewayView: ...


def _with_view(
    function: Callable[..., Any], names: tuple[str, ...], plugin: str
) -> Callable[..., Any]:
    index = names.index("gateway")

    @functools.wraps(function)
    def bound(*args: Any) -> Any:
        source = args[index]
        if hasattr(source, "view"):
            args = (*args[:index], source.view(plugin), *args[index + 1 :])
        return function(*args)

    return bound


def _logging_failures(function: Callable[..., Any], plugin: str) -> Callable[..., Any]:
    async def logged(awaitable: Awaitable[Any]) -> None:
        try:
            await awaitable
        except Exception:
            log.exception("plugin %s failed during shutdown", plugin)

    @functools.wraps(function)
    def guarded(*args: Any) -> Any:
        try:
            result = function(*args)
        except Exception:
            log.exception("plugin %s failed during shutdown", plugin)
            return None
        return logged(result) if inspect.isawaitable(result) else result

    return guarded


def _adapt(function: Callable[..., Any], names: tuple[str, ...]) -> Callable[..., Any]:
    def listener(event: Any, ctx: Any) -> Any:
        values = {"event": event, "ctx": ctx}
        return function(*(values[name] for name in names))

    return listener


def _distribution_of(module: ModuleType) -> tuple[str | None, str | None]:
    top = module.__name__.split(".", 1)[0]
    names = importlib.metadata.packages_distributions().get(top)
    if not names:
        return None, None
    return names[0], importlib.metadata.version(names[0])
