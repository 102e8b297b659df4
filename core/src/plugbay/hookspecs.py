"""Every hook plugbay calls, in two kinds.

*Registration hooks* are synchronous and called once, at start-up (or CLI start). They are
given a ``register`` callback and register objects whose async methods the request path calls
directly: pluggy never runs per request.

*Lifecycle and event hooks* may be implemented with ``def`` or ``async def``; the core awaits
each result that is awaitable. Implementations may accept any subset of a hook's arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    import click

    from plugbay._gateway import Gateway
    from plugbay._registry.owners import MigrationRegister
    from plugbay._settings import Settings
    from plugbay._types import FinishedRequest, RequestContext

hookspec = pluggy.HookspecMarker("plugbay")

# --- registration hooks: sync, once at start-up ---------------------------------------------


@hookspec
def plugbay_register_adapters(register: Callable[..., None], settings: Settings) -> None:
    """Register provider adapter types.

    Call ``register(type, factory, options=None)`` once per type: ``type`` is the name a
    ``[[providers]]`` entry gives as ``type``; ``factory(ctx: ProviderContext) -> Provider``
    builds one provider per entry of that type; ``options`` is an optional msgspec Struct
    type that the entry's adapter-specific keys are validated against.

    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_authenticators(register: Callable[[Any], None], settings: Settings) -> None:
    """Register :class:`~plugbay._protocols.Authenticator` objects.

    They are asked in registration order (plugins before the built-in master key).
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_rate_limiters(register: Callable[[Any], None], settings: Settings) -> None:
    """Register :class:`~plugbay._protocols.RateLimiter` objects.

    Every registered limiter must admit a request before it reaches a provider.
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_caches(register: Callable[[Any], None], settings: Settings) -> None:
    """Register :class:`~plugbay._protocols.Cache` objects.

    The first registered cache answers lookups and stores answers.
    Sync; called once when the app is built.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_register_routes(register: Callable[[Any], None], settings: Settings) -> None:
    """Register extra Litestar route handlers, controllers or routers.

    Sync; called once when the app is built. Routes are served under the app's auth only if
    they check it themselves (``plugbay._routes.common.require_admin`` is a guard for that).

    .. versionadded:: 0.1
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
def plugbay_startup(gateway: Gateway) -> Any:
    """Called once per worker process after the registry is loaded, before the first request.

    May be ``async``. A failure stops start-up.

    .. versionadded:: 0.1
    """


@hookspec
def plugbay_shutdown(gateway: Gateway) -> Any:
    """Called once per worker process after the last request finished, before connections close.

    May be ``async``. Flush what you buffer here.

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
