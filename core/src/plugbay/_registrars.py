"""The typed registrars the registration hooks receive, and the checks they make.

Each registration hook gets one registrar, bound to the plugin being asked (tox's
``ToxEnvRegister``). What it registers is checked against its Protocol there and then: a
missing, misspelled or non-``async`` method stops start-up with a :class:`PluginError`
naming the plugin and the method, instead of a 500 on every request later.
"""

from __future__ import annotations

import builtins
import difflib
import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import msgspec

    from plugbay._protocols import Authenticator, Cache, Provider, RateLimiter
    from plugbay._providers import ProviderContext
    from plugbay._router.breaker import BreakerConfig, BreakerStore
    from plugbay._router.strategies import Strategy

__all__ = [
    "AdapterRegister",
    "AdapterType",
    "AuthenticatorRegister",
    "BreakerStoreRegister",
    "CacheRegister",
    "PluginError",
    "RateLimiterRegister",
    "Registered",
    "RouteRegister",
    "StrategyRegister",
    "check_lifecycle",
    "check_protocol",
]

log = logging.getLogger("plugbay.plugins")

LIFECYCLE_METHODS = ("start", "registry_changed", "usage_recorded", "aclose")


class PluginError(Exception):
    """A plugin registered something the core cannot use; the message names the plugin.

    .. versionadded:: 0.1
    """


class AdapterType(NamedTuple):
    type: str
    factory: Callable[..., Any]
    options: builtins.type[msgspec.Struct] | None
    plugin: str


class Registered(NamedTuple):
    """An object a plugin registered, and the plugin's name (its lifecycle view's)."""

    obj: Any
    plugin: str


@functools.cache
def _protocol_methods(protocol: type) -> list[tuple[str, inspect.Signature]]:
    methods = []
    for name, value in vars(protocol).items():
        if not name.startswith("_") and inspect.isfunction(value):
            methods.append((name, inspect.signature(value)))
    return methods


def _public_names(obj: object) -> list[str]:
    return [name for name in dir(obj) if not name.startswith("_")]


def _check_method(
    obj: object, name: str, expected: inspect.Signature, where: str, *, is_class: bool
) -> None:
    method = getattr(obj, name)
    if not inspect.iscoroutinefunction(method):
        raise PluginError(f"{where}: `{name}` must be an `async def` method")
    params = list(expected.parameters.values())[1:]  # without self
    args = [None] * (len(params) + (1 if is_class else 0))
    try:
        inspect.signature(method).bind(*args)
    except TypeError as exc:
        wanted = ", ".join(p.name for p in params)
        raise PluginError(
            f"{where}: `{name}` must accept ({wanted}), as the Protocol says: {exc}"
        ) from None
    except ValueError:  # no signature to read (a builtin): trust it
        pass


def check_protocol(obj: object, protocol: type, plugin: str, what: str) -> None:
    """Raise :class:`PluginError` unless ``obj`` has every method of ``protocol``, async and
    accepting its arguments; then check the optional :class:`~plugbay.Lifecycle` methods it has.

    ``obj`` may be a class (an adapter's factory), checked as its instances would be.
    """
    is_class = isinstance(obj, type)
    label = obj.__name__ if is_class else type(obj).__name__  # type: ignore[attr-defined]
    where = f"plugin {plugin}: {what} {label}"
    for name, signature in _protocol_methods(protocol):
        if getattr(obj, name, None) is None:
            close = difflib.get_close_matches(name, _public_names(obj), n=1, cutoff=0.75)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise PluginError(
                f"{where} has no method `{name}`{hint}; the {protocol.__name__} Protocol needs "
                + ", ".join(f"`async def {n}`" for n, _ in _protocol_methods(protocol))
            )
        _check_method(obj, name, signature, where, is_class=is_class)
    check_lifecycle(obj, plugin, what, is_class=is_class)


def check_lifecycle(obj: object, plugin: str, what: str, *, is_class: bool = False) -> None:
    """The optional :class:`~plugbay.Lifecycle` methods ``obj`` defines must be async and
    accept the Protocol's arguments."""
    from plugbay._protocols import Lifecycle

    label = obj.__name__ if is_class else type(obj).__name__  # type: ignore[attr-defined]
    for name, signature in _protocol_methods(Lifecycle):
        if getattr(obj, name, None) is not None:
            where = f"plugin {plugin}: {what} {label}"
            _check_method(obj, name, signature, where, is_class=is_class)


class _Register:
    """What every registrar shares: the plugin it is bound to, and the list it fills."""

    kind = "object"

    def __init__(self, plugin: str, found: list[Registered], label: str | None = None) -> None:
        self._plugin = plugin
        self._label = label or f'"{plugin}"'
        self._found = found

    def _add(self, obj: object, protocol: type) -> None:
        check_protocol(obj, protocol, self._label, self.kind)
        for registered in self._found:
            if registered.obj is obj:
                log.warning(
                    "plugin %s registered the same %s %r twice (also by plugin %s); once is used",
                    self._label,
                    self.kind,
                    obj,
                    registered.plugin,
                )
                return
        self._found.append(Registered(obj, self._plugin))


class AuthenticatorRegister(_Register):
    """Given to :func:`~plugbay.hookspecs.plugbay_register_authenticators`.

    .. versionadded:: 0.1
    """

    kind = "authenticator"

    def authenticator(self, authenticator: Authenticator) -> None:
        """Add an :class:`~plugbay.Authenticator`; they are asked in registration order."""
        from plugbay._protocols import Authenticator

        self._add(authenticator, Authenticator)

    __call__ = authenticator  # the 0.1 form, ``register(obj)``, keeps working


class RateLimiterRegister(_Register):
    """Given to :func:`~plugbay.hookspecs.plugbay_register_rate_limiters`.

    .. versionadded:: 0.1
    """

    kind = "rate limiter"

    def rate_limiter(self, limiter: RateLimiter) -> None:
        """Add a :class:`~plugbay.RateLimiter`; every one must admit each request."""
        from plugbay._protocols import RateLimiter

        self._add(limiter, RateLimiter)

    __call__ = rate_limiter


class CacheRegister(_Register):
    """Given to :func:`~plugbay.hookspecs.plugbay_register_caches`.

    .. versionadded:: 0.1
    """

    kind = "cache"

    def cache(self, cache: Cache) -> None:
        """Offer a :class:`~plugbay.Cache`; the first one registered is used, and a second one
        (from any plugin) is logged as a warning naming both plugins."""
        from plugbay._protocols import Cache

        self._add(cache, Cache)

    __call__ = cache


class RouteRegister(_Register):
    """Given to :func:`~plugbay.hookspecs.plugbay_register_routes`.

    .. versionadded:: 0.1
    """

    kind = "route"

    def route(self, handler: Any) -> None:
        """Add a Litestar route handler, ``Controller`` subclass or ``Router``."""
        from litestar import Router
        from litestar.controller import Controller
        from litestar.handlers import BaseRouteHandler

        if not (
            isinstance(handler, BaseRouteHandler | Router)
            or (isinstance(handler, type) and issubclass(handler, Controller))
        ):
            raise PluginError(
                f"plugin {self._label}: route {handler!r} is not a Litestar route handler, "
                "Controller or Router (decorate it with @get, @post...)"
            )
        self._found.append(Registered(handler, self._plugin))

    __call__ = route


class AdapterRegister:
    """Given to :func:`~plugbay.hookspecs.plugbay_register_adapters`.

    .. versionadded:: 0.1
    """

    def __init__(
        self, plugin: str, found: dict[str, AdapterType], label: str | None = None
    ) -> None:
        self._plugin = plugin
        self._label = label or f'"{plugin}"'
        self._found = found
        self._labels: dict[str, str] = {}

    def adapter(
        self,
        type: str,
        factory: Callable[[ProviderContext], Provider],
        *,
        options: builtins.type[msgspec.Struct] | None = None,
    ) -> None:
        """Add the adapter type ``type``, what a ``[[providers]]`` entry names in ``type``.

        :param factory: builds one :class:`~plugbay.Provider` per entry, from its
            :class:`~plugbay.ProviderContext`; a class is checked against the Protocol now,
            another callable's provider when it is built.
        :param options: a msgspec Struct the entry's adapter-specific keys are validated
            against (``forbid_unknown_fields=True`` reports a typo by its key).
        """
        from plugbay._protocols import Provider

        if not callable(factory):
            raise PluginError(
                f"plugin {self._label}: adapter {type!r}: {factory!r} is not callable"
            )
        if isinstance(factory, builtins.type):
            check_protocol(factory, Provider, self._label, f"adapter {type!r}:")
        current = self._found.get(type)
        if current is None:
            self._found[type] = AdapterType(type, factory, options, self._plugin)
        elif current.plugin == self._plugin:
            raise PluginError(f"plugin {self._label} registers the adapter type {type!r} twice")
        else:  # an earlier (higher-priority) plugin claimed it: it wins, loudly
            log.warning(
                "adapter type %r is registered by plugin %s and by plugin %r; %r serves it "
                "(the plugin called first: tryfirst, or registered later, wins)",
                type,
                self._label,
                current.plugin,
                current.plugin,
            )

    __call__ = adapter  # the 0.1 form, ``register(type, factory, options=...)``


class StrategyRegister:
    """Given to :func:`~plugbay.hookspecs.plugbay_register_strategies`.

    .. versionadded:: 0.2
    """

    def __init__(
        self, plugin: str, found: dict[str, tuple[Callable[[], Any], str]], label: str | None = None
    ) -> None:
        self._plugin = plugin
        self._label = label or f'"{plugin}"'
        self._found = found

    def strategy(self, name: str, factory: Callable[[], Strategy]) -> None:
        """Add the routing strategy ``name``, what a ``[[models]]`` entry names in ``strategy``.

        :param factory: called once per model using it (and again when the registry
            changes); returns an object with ``order(deployments, now)`` (checked now).
        """
        from plugbay._router.strategies import Strategy

        if not callable(factory):
            raise PluginError(
                f"plugin {self._label}: strategy {name!r}: {factory!r} is not callable"
            )
        made = factory()
        order = getattr(made, "order", None)
        if not isinstance(made, Strategy) or not callable(order):
            raise PluginError(
                f"plugin {self._label}: strategy {name!r}: {type(made).__name__} has no "
                "`order(deployments, now)` method"
            )
        if inspect.iscoroutinefunction(order):
            raise PluginError(
                f"plugin {self._label}: strategy {name!r}: `order` must be a plain `def` "
                "(it runs on the request path, without awaiting)"
            )
        current = self._found.get(name)
        if current is None:
            self._found[name] = (factory, self._plugin)
        elif current[1] == self._plugin:
            raise PluginError(f"plugin {self._label} registers the strategy {name!r} twice")
        else:
            log.warning(
                "strategy %r is registered by plugin %s and by plugin %r; %r's is used",
                name,
                self._label,
                current[1],
                current[1],
            )


class BreakerStoreRegister:
    """Given to :func:`~plugbay.hookspecs.plugbay_register_breaker_stores`.

    .. versionadded:: 0.2
    """

    def __init__(
        self,
        plugin: str,
        found: dict[str, tuple[Callable[..., Any], str]],
        label: str | None = None,
    ) -> None:
        self._plugin = plugin
        self._label = label or f'"{plugin}"'
        self._found = found

    def breaker_store(self, name: str, factory: Callable[[BreakerConfig], BreakerStore]) -> None:
        """Add the breaker store ``name``, what ``[router.breaker] store`` names.

        :param factory: called once per worker with the ``[router.breaker]`` settings when
            that store is chosen; returns a :class:`~plugbay.BreakerStore`.
        """
        if name in ("memory", "file"):
            raise PluginError(f"plugin {self._label}: the breaker store {name!r} is core's")
        if not callable(factory):
            raise PluginError(
                f"plugin {self._label}: breaker store {name!r}: {factory!r} is not callable"
            )
        current = self._found.get(name)
        if current is None:
            self._found[name] = (factory, self._plugin)
        elif current[1] == self._plugin:
            raise PluginError(f"plugin {self._label} registers the breaker store {name!r} twice")
        else:
            log.warning(
                "breaker store %r is registered by plugin %s and by plugin %r; %r's is used",
                name,
                self._label,
                current[1],
                current[1],
            )
