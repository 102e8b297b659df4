"""The async Protocols that objects registered by plugins implement.

Registration hooks run once at start-up; the objects they register are what the request
path calls, directly. Every method here is ``async``.

Authenticators, rate limiters and caches may also define ``async def start(self, gateway)``,
awaited once per worker before the registry is first read, ``async def
registry_changed(self, gateway)``, awaited whenever the registry changed (in any process),
``async def usage_recorded(self, gateway, batch)``, awaited after each batch of this worker's
usage records was written (a :class:`~plugbay._types.RecordedUsage`: which requests, and each
key's spend in the registry now), and ``async def aclose(self)``, awaited at shutdown.
Providers are built from the registry and closed with ``aclose`` when their entry changes or
the gateway stops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Mapping

    from plugbay._types import (
        ChatRequest,
        ChatResponse,
        ChatStream,
        EmbeddingsRequest,
        EmbeddingsResponse,
        Principal,
        RequestContext,
    )

__all__ = ["Authenticator", "Cache", "Provider", "RateLimiter"]


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
