"""The plugin manager facade: discovery, allow- and block-lists, listing, one method per hook.

The core calls hooks only through :class:`PluginManager`; nothing else touches pluggy.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import pluggy

from plugbay import hookspecs
from plugbay._utils import await_me_maybe

if TYPE_CHECKING:
    import click

    from plugbay._gateway import Gateway
    from plugbay._registry.owners import History
    from plugbay._settings import PluginSettings, Settings

__all__ = ["AdapterType", "PluginInfo", "PluginLoadError", "PluginManager"]

log = logging.getLogger("plugbay.plugins")

DEFAULT_PLUGINS = ("plugbay._default_plugins.master_key",)


class PluginLoadError(Exception):
    """A plugin could not be imported or registered; the message names it."""


class PluginInfo(msgspec.Struct):
    name: str
    distribution: str | None
    version: str | None
    hooks: list[str]
    builtin: bool = False


class AdapterType(NamedTuple):
    type: str
    factory: Callable[..., Any]
    options: builtins.type[msgspec.Struct] | None
    plugin: str


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
        hooks = sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ())
        if distribution is None and isinstance(plugin, ModuleType) and not builtin:
            distribution, version = _distribution_of(plugin)
        self._info[name] = PluginInfo(name, distribution, version, hooks, builtin)

    def list_plugins(self) -> list[PluginInfo]:
        return sorted(self._info.values(), key=lambda info: (info.builtin, info.name))

    # --- registration hooks ------------------------------------------------------------------

    def adapters(self, settings: Settings) -> dict[str, AdapterType]:
        found: dict[str, AdapterType] = {}
        for plugin_name, impl in self._impls("plugbay_register_adapters"):

            def register(
                type: str,
                factory: Callable[..., Any],
                *,
                options: type[msgspec.Struct] | None = None,
                _plugin: str = plugin_name,
            ) -> None:
                if type in found:  # an earlier (higher-priority) plugin already claimed it
                    log.debug(
                        "adapter type %r of %s overridden by %s", type, _plugin, found[type].plugin
                    )
                    return
                found[type] = AdapterType(type, factory, options, _plugin)

            self._call(impl, register=register, settings=settings)
        return found

    def authenticators(self, settings: Settings) -> list[Any]:
        return self._collect("plugbay_register_authenticators", settings)

    def rate_limiters(self, settings: Settings) -> list[Any]:
        return self._collect("plugbay_register_rate_limiters", settings)

    def caches(self, settings: Settings) -> list[Any]:
        return self._collect("plugbay_register_caches", settings)

    def routes(self, settings: Settings) -> list[Any]:
        return self._collect("plugbay_register_routes", settings)

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

    async def startup(self, gateway: Gateway) -> None:
        for _, impl in self._impls("plugbay_startup"):
            await await_me_maybe(self._call(impl, gateway=gateway))

    async def shutdown(self, gateway: Gateway) -> None:
        for plugin_name, impl in self._impls("plugbay_shutdown"):
            try:
                await await_me_maybe(self._call(impl, gateway=gateway))
            except Exception:
                log.exception("plugin %s failed during shutdown", plugin_name)

    def request_finished_listeners(self) -> list[Callable[..., Any]]:
        """The ``plugbay_request_finished`` implementations, as ``f(event, ctx)`` callables."""
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
        return [(impl.plugin_name, impl) for impl in reversed(impls)]

    @staticmethod
    def _call(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        return impl.function(*(kwargs[name] for name in impl.argnames))

    def _collect(self, hook: str, settings: Settings) -> list[Any]:
        found: list[Any] = []
        for _, impl in self._impls(hook):
            self._call(impl, register=found.append, settings=settings)
        return found


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
