"""The Protocols of the platform: what plugins register, and what the core hands them.

Registration hooks run once at start-up; the objects they register are what the request
path calls, directly. Every method of :class:`Provider`, :class:`Authenticator`,
:class:`RateLimiter` and :class:`Cache` is ``async`` and required: the registrar checks each
registered object against its Protocol and a missing one stops start-up, naming the plugin.

Authenticators, rate limiters and caches may also implement any of the :class:`Lifecycle`
methods. Providers are built from the registry and closed with ``aclose`` when their entry
changes or the gateway stops.

Hooks and lifecycle methods are given a :class:`GatewayView`, never the core's gateway.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Coroutine, Mapping

    from plugbay._pricing import Price
    from plugbay._registry import Registry
    from plugbay._settings import Settings
    from plugbay._types import (
        ChatRequest,
        ChatResponse,
        ChatStream,
        EmbeddingsRequest,
        EmbeddingsResponse,
        Principal,
        RecordedUsage,
        RequestContext,
    )

__all__ = [
    "Authenticator",
    "Cache",
    "GatewayView",
    "Lifecycle",
    "Provider",
    "RateLimiter",
]

T = TypeVar("T")


@runtime_checkable
class Provider(Protocol):
    """One configured provider (a ``[[providers]]`` entry), built by its adapter type.

    Answers are OpenAI-shaped whatever the upstream speaks, with ``model`` set to
    ``request.public_model``. Failures are raised as :class:`plugbay.PlugbayError`
    subclasses (:class:`~plugbay.UpstreamError`, :class:`~plugbay.ProviderError`...).
    """

    async def chat(self, request: ChatRequest) -> ChatResponse: ...

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        """Start a stream; return once the upstream accepted it (errors before that raise)."""
        ...

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Authenticator(Protocol):
    """Turns a request's credential into a :class:`~plugbay.Principal`.

    Authenticators are asked in order; the first to return a principal wins. Return ``None``
    for a credential you do not recognise; raise :class:`~plugbay.AuthenticationError`,
    :class:`~plugbay.PermissionDenied` or :class:`~plugbay.RateLimited` (budgets) for one
    you recognise and refuse.
    """

    async def authenticate(
        self, token: str | None, headers: Mapping[str, str]
    ) -> Principal | None: ...


@runtime_checkable
class RateLimiter(Protocol):
    """Admits or refuses a request before any upstream call, and settles up after it.

    ``acquire`` raises :class:`~plugbay.RateLimited` to refuse and may add response
    headers to ``ctx.response_headers``. ``release`` is called exactly once for every
    request ``acquire`` admitted, when it finished (``ctx.usage`` then holds real usage and
    ``ctx.cost_usd`` its cost). A limiter that accounts the cost against the key's budget
    itself sets ``ctx.spend_settled = True`` in ``release``; otherwise the core adds the cost
    to ``ctx.principal.spend`` (this worker's view until the registry's spend catches up).
    """

    async def acquire(self, ctx: RequestContext) -> None: ...

    async def release(self, ctx: RequestContext) -> None: ...


@runtime_checkable
class Cache(Protocol):
    """A response cache: complete OpenAI JSON answers keyed by the canonical request.

    ``get`` returns the cached body or ``None``; ``set`` stores an answer (never an error).
    A cache that does not apply to a request (its model has not opted in) sets
    ``ctx.cache_status = "bypass"`` in ``get`` and returns ``None``: the core then neither
    stores the answer nor reports a miss. ``set`` may still be called without ``get``
    (``Cache-Control: no-cache``), so it checks the same.
    The request is a :class:`~plugbay.ChatRequest` or :class:`~plugbay.EmbeddingsRequest`.
    """

    async def get(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
    ) -> bytes | None: ...

    async def set(
        self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest, content: bytes
    ) -> None: ...


class Lifecycle(Protocol):
    """Optional methods an authenticator, rate limiter or cache may define, any subset.

    The core looks for them once, when the object is registered (each one present must be
    ``async def`` with these arguments, or start-up stops naming the plugin), and calls them
    with the :class:`GatewayView` of the plugin that registered the object:

    * ``start``: once per worker, after the registry is opened and before it is first read
      (before the ``plugbay_startup`` hook);
    * ``registry_changed``: whenever the registry changed, in any process (usage writes of
      other workers included), and once more just after ``start``;
    * ``usage_recorded``: after each batch of this worker's usage records was written;
      ``batch`` is a :class:`~plugbay.RecordedUsage` (which requests, and each key's spend in
      the registry just after the write);
    * ``aclose``: at shutdown, after the ``plugbay_shutdown`` hook and the background tasks.

    .. versionadded:: 0.1
    """

    async def start(self, gateway: GatewayView) -> None: ...

    async def registry_changed(self, gateway: GatewayView) -> None: ...

    async def usage_recorded(self, gateway: GatewayView, batch: RecordedUsage) -> None: ...

    async def aclose(self) -> None: ...


class GatewayView(Protocol):
    """What the start-up and shutdown hooks and the :class:`Lifecycle` methods are given: one
    plugin's view of the gateway of this worker.

    .. versionadded:: 0.1
    """

    @property
    def plugin(self) -> str:
        """The plugin's name (its entry-point name)."""
        ...

    @property
    def settings(self) -> Settings:
        """The whole configuration (read it; do not change it)."""
        ...

    @property
    def config(self) -> Mapping[str, Any]:
        """The plugin's own ``[<plugin>]`` table of the config file, as decoded (``{}``)."""
        ...

    def plugin_config(self, type: builtins.type[T]) -> T:
        """The plugin's own table validated into ``type``: see
        :meth:`plugbay.Settings.plugin_config`."""
        ...

    @property
    def registry(self) -> Registry:
        """The registry (:class:`plugbay.Registry`): providers, models, keys, usage and the
        plugin's own tables. Read it in ``start``/``registry_changed``, never per request."""
        ...

    @property
    def state(self) -> dict[str, Any]:
        """A dict of the plugin's own, kept for the life of the worker."""
        ...

    def price_of(self, model: str) -> Price | None:
        """The price of public model ``model``, if known."""
        ...

    def run_in_background(
        self, coroutine: Coroutine[Any, Any, Any], *, name: str | None = None
    ) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task of this worker; a failure is logged naming the plugin.

        The core cancels and awaits the tasks still running at shutdown, after the
        ``plugbay_shutdown`` hook and before the registered objects are closed.
        """
        ...
