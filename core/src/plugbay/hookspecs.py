"""Every hook plugbay calls, in two kinds.

*Registration hooks* are synchronous and called once, at start-up (or CLI start). Each
implementation is given a typed registrar bound to its plugin (``register.adapter(...)``,
``register.authenticator(obj)``...); what it registers is checked against its Protocol there
and then, and the request path calls those objects' async methods directly: pluggy never
runs per request. (Calling the registrar, ``register(...)``, is the 0.1 spelling of its
method and keeps working.)

*Lifecycle and event hooks* may be implemented with ``def`` or ``async def``; the core awaits
each result that is awaitable. The start-up and shutdown hooks are called through pluggy, so
``wrapper=True`` implementations and tracing see them; ``plugbay_request_finished`` alone is
called from a list resolved at start-up (it runs per request).

Implementations may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from plugbay._asgi import ASGIApp
    from plugbay._protocols import GatewayView
    from plugbay._registrars import (
        AdapterRegister,
        AuthenticatorRegister,
        BreakerStoreRegister,
        CacheRegister,
        RateLimiterRegister,
        RouteRegister,
        StrategyRegister,
    )
    from plugbay._registry.owners import MigrationRegister
    from plugbay._settings import Settings
    from plugbay._types import FinishedRequest, RequestContext

hookspec = pluggy.HookspecMarker("plugbay")

# --- registration hooks: sync, once at start-up ---------------------------------------------


@hookspec
def plugbay_register_adapters(register: AdapterRegister, settings: Settings) -> None:
    """Register provider adapter types.

    Call ``register.adapter(type, factory, options=None)`` once per type: ``type`` is the name
    a ``[[providers]]`` entry gives as ``type``; ``factory(ctx: ProviderContext) -> Provider``
    builds one provider per entry of that type (a class is checked against
    :class:`~plugbay.Provider` at once); ``options`` is an optional msgspec Struct type that
    the entry's adapter-specific keys are validated against.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    A type registered by two plugins is served by the one called first and logged as a
    warning naming both; one plugin registering a type twice stops start-up.
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_strategies(register: StrategyRegister, settings: Settings) -> None:
    """Register routing strategies with ``register.strategy(name, factory)``.

    A ``[[models]]`` entry's ``strategy`` names one; ``factory()`` is called once per model
    (again when the registry changes) and returns an object whose plain ``def
    order(deployments, now)`` returns the model's :class:`~plugbay.Deployment` objects in
    the order to try them (it runs on the request path: no I/O). Core registers
    ``priority``, ``weighted``, ``least-busy``, ``latency`` and ``cost``, ``trylast``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    A name registered by two plugins is served by the one called first, with a warning
    naming both. Sync; called once when the app is built.

    .. versionadded:: 0.2
    """


@hookspec
def plugbay_register_breaker_stores(register: BreakerStoreRegister, settings: Settings) -> None:
    """Register where circuit breakers keep their state with
    ``register.breaker_store(name, factory)``.

    ``[router.breaker] store = "<name>"`` chooses one; ``factory(config)`` is called once per
    worker with the ``[router.breaker]`` settings (a :class:`~plugbay.BreakerConfig`) and
    returns a :class:`~plugbay.BreakerStore`, whose breakers' async ``allow``, ``success`` and
    ``failure`` run on the request path (a healthy deployment's should not wait on the
    network). Core has ``memory`` and ``file``; plugbay-redis adds ``redis``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration (a plugin reads its own table from it).

    Sync; called once when the app is built.

    .. versionadded:: 0.2
    """


@hookspec
def plugbay_register_authenticators(register: AuthenticatorRegister, settings: Settings) -> None:
    """Register :class:`~plugbay.Authenticator` objects with ``register.authenticator(obj)``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    They are asked in registration order (plugins before the built-in master key).
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_rate_limiters(register: RateLimiterRegister, settings: Settings) -> None:
    """Register :class:`~plugbay.RateLimiter` objects with ``register.rate_limiter(obj)``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    Every registered limiter must admit a request before it reaches a provider.
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_caches(register: CacheRegister, settings: Settings) -> None:
    """Register :class:`~plugbay.Cache` objects with ``register.cache(obj)``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    The first registered cache answers lookups and stores answers; another one is logged as
    a warning naming both plugins. Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_routes(register: RouteRegister, settings: Settings) -> None:
    """Register extra Litestar route handlers, controllers or routers with
    ``register.route(handler)``.

    :param register: the registrar, bound to this plugin.
    :param settings: the configuration.

    Sync; called once when the app is built. Routes are served under the app's auth only if
    they check it themselves.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_wrap_asgi(settings: Settings) -> Callable[[ASGIApp], ASGIApp] | None:
    """Return an ASGI middleware for the whole app, or ``None``.

    The returned callable is given the app (an ASGI application) and returns the one to serve
    instead, usually a function that does its work and awaits the app it was given. It sees
    every request of both halves of the app: the fast ``/v1`` completion endpoints and
    everything Litestar serves (models, health, admin, plugin routes), and also the
    ``lifespan`` scope, which it must pass on (as any scope it does not handle).

    The wrapper returned by the implementation called first (``tryfirst``) is the outermost:
    it sees a request first and its answer last. With no wrapper the app is served as it is,
    without a layer of its own.

    :param settings: the gateway's settings.
    :returns: ``wrap(app) -> app``, or ``None`` to wrap nothing.

    Sync (not ``async def``); called once when the app is built.

    .. versionadded:: 0.2
    """


@hookspec
def plugbay_register_commands(cli: click.Group) -> None:
    """Add commands to the ``plugbay`` command line with ``cli.command()`` or ``cli.add_command``.

    Sync; called once when the CLI starts.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_migrations(register: MigrationRegister) -> None:
    """Declare the schema history of tables this plugin keeps in the registry.

    Call ``register.migrations(steps)`` with every step so far, oldest first (SQLite scripts;
    append only). At start-up, after core's own schema, the registry applies the steps the
    database has not seen, each once, in a transaction of its own, and records the plugin's
    version (safe with several workers starting at once). A database at a later version than
    the plugin knows stops start-up, naming the plugin. Reach the tables through
    :class:`plugbay.Registry` only from start-up or ``registry_changed``, never per request.

    :param register: ``register.migrations(steps, *, owner=None)``; ``owner`` defaults to
        the plugin's name.

    .. versionadded:: 0.1
    """


# --- lifecycle and event hooks: def or async def ---------------------------------------------


@hookspec
def plugbay_startup(gateway: GatewayView) -> Any:
    """Called once per worker process after the registry is loaded, before the first request.

    :param gateway: this plugin's :class:`~plugbay.GatewayView` (each implementation gets its
        own plugin's: its config table, its state).

    May be ``async``: pluggy calls every implementation in order, then the core awaits the
    awaitables they returned, in the same order. A failure stops start-up.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_shutdown(gateway: GatewayView) -> Any:
    """Called once per worker process after the last request finished, before connections close.

    :param gateway: this plugin's :class:`~plugbay.GatewayView`.

    May be ``async`` (awaited as for start-up). Flush what you buffer here; background tasks
    are cancelled just after. A failure is logged and the other implementations still run.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_request_finished(event: FinishedRequest, ctx: RequestContext) -> Any:
    """Called after every chat completion and embeddings request has been answered, errors
    included (streams: after the last chunk; a client that left: status 499).

    May be ``async``. The implementations are collected once at start-up and called directly,
    after the answer was sent; keep them fast (queue work, do not do I/O inline).

    .. versionadded:: 0.1
    """
