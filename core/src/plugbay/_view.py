"""The :class:`~plugbay.GatewayView` the core hands a plugin: one per plugin and worker."""

from __future__ import annotations

import asyncio
import builtins
import logging
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping

    from plugbay._gateway import Gateway
    from plugbay._pricing import Price
    from plugbay._registrars import Registered
    from plugbay._registry import Registry
    from plugbay._settings import Settings

__all__ = ["PluginView", "Views", "lifecycle_methods"]

log = logging.getLogger("plugbay.plugins")
T = TypeVar("T")


class PluginView:
    """:class:`~plugbay.GatewayView` over the gateway, for plugin ``plugin``."""

    __slots__ = ("_gateway", "_plugin", "_state")

    def __init__(self, gateway: Gateway, plugin: str) -> None:
        self._gateway = gateway
        self._plugin = plugin
        self._state: dict[str, Any] = gateway.state.setdefault(plugin, {})

    def __repr__(self) -> str:
        return f"<GatewayView of plugin {self._plugin!r}>"

    @property
    def plugin(self) -> str:
        return self._plugin

    @property
    def settings(self) -> Settings:
        return self._gateway.settings

    @property
    def config(self) -> Mapping[str, Any]:
        return self._gateway.settings.plugin_settings(self._plugin)

    def plugin_config(self, type: builtins.type[T]) -> T:
        return self._gateway.settings.plugin_config(self._plugin, type)

    @property
    def registry(self) -> Registry:
        return self._gateway.registry

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    def price_of(self, model: str) -> Price | None:
        return self._gateway.prices.get(model)

    def run_in_background(
        self, coroutine: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(
            coroutine, name=name or f"plugbay-plugin-{self._plugin}"
        )
        self._gateway.background.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._gateway.background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "background task %r of plugin %r failed",
                task.get_name(),
                self._plugin,
                exc_info=task.exception(),
            )


class Views:
    """What the start-up and shutdown hooks are called with: each implementation is handed
    :meth:`view` of its own plugin (see ``PluginManager._bind_views``)."""

    __slots__ = ("_gateway", "_views")

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._views: dict[str, PluginView] = {}

    def view(self, plugin: str) -> PluginView:
        view = self._views.get(plugin)
        if view is None:
            view = self._views[plugin] = PluginView(self._gateway, plugin)
        return view


def lifecycle_methods(
    components: Iterable[Registered], name: str, views: Views
) -> tuple[tuple[Callable[..., Awaitable[Any]], PluginView], ...]:
    """``(bound method, its plugin's view)`` of every component defining Lifecycle ``name``
    (looked up once, at start-up: the registrars checked the methods already)."""
    found = []
    for registered in components:
        method = getattr(registered.obj, name, None)
        if method is not None:
            found.append((method, views.view(registered.plugin)))
    return tuple(found)
