"""The objects that cross the line between the core and plugins on the request path."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay.schemas import ChatCompletionParams, EmbeddingsParams, Usage

if TYPE_CHECKING:
    from plugbay._pricing import Price

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "FinishedRequest",
    "Principal",
    "RecordedUsage",
    "RequestContext",
]

_encode = msgspec.json.Encoder().encode


class _UpstreamCall:
    __slots__ = ("body", "params", "public_model", "raw", "request_id", "upstream_model")

    def __init__(
        self,
        *,
        params: Any,
        body: dict[str, Any],
        raw: bytes,
        public_model: str,
        upstream_model: str,
        request_id: str = "",
    ) -> None:
        self.params = params
        self.body = body
        self.raw = raw
        self.public_model = public_model
        self.upstream_model = upstream_model
        self.request_id = request_id

    def upstream_body(self, **changes: Any) -> bytes:
        """The body for an OpenAI-compatible upstream: the client's bytes when nothing changes.

        ``model`` becomes the upstream model; ``changes`` set (or, with ``None``, remove)
        top-level fields. Every field the client sent, known or not, is kept.
        """
        if self.upstream_model != self.public_model:
            changes.setdefault("model", self.upstream_model)
        body = self.body
        changes = {
            k: v for k, v in changes.items() if (body[k] != v if k in body else v is not None)
        }
        if not changes:
            return self.raw
        body = dict(body)
        for key, value in changes.items():
            if value is None:
                body.pop(key, None)
            else:
                body[key] = value
        return _encode(body)


class ChatRequest(_UpstreamCall):
    """One chat completion, as an adapter receives it.

    :ivar params: the validated known fields (:class:`~plugbay.schemas.ChatCompletionParams`).
    :ivar body: the decoded request body, every field the client sent, unknown ones included.
    :ivar raw: the request body's bytes, as received.
    :ivar public_model: the model name the client asked for; answers carry it.
    :ivar upstream_model: the provider's name for the model.
    """

    __slots__ = ()
    params: ChatCompletionParams

    @property
    def stream(self) -> bool:
        return bool(self.params.stream)

    @property
    def client_wants_usage(self) -> bool:
        """Whether the client asked for the final usage chunk of a stream.

        Adapters always ask their upstream for usage (the gateway records it) and send the
        usage chunk on only when this is true.
        """
        options = self.params.stream_options
        return bool(options is not None and options.include_usage)


class EmbeddingsRequest(_UpstreamCall):
    """One embeddings request, as an adapter receives it (same attributes as ChatRequest)."""

    __slots__ = ()
    params: EmbeddingsParams


class ChatResponse:
    """A complete chat answer: OpenAI JSON bytes whose ``model`` is the public name.

    :ivar headers: upstream response headers to relay to the client (the OpenAI adapter's
        ``x-ratelimit-*``); a header a plugbay policy set itself wins, and when a rate
        limiter set any ``x-ratelimit-*`` header, none of the upstream's is relayed.
    """

    __slots__ = ("content", "headers", "usage")

    def __init__(
        self,
        content: bytes,
        usage: Usage | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.content = content
        self.usage = usage
        self.headers = headers


class EmbeddingsResponse(ChatResponse):
    """A complete embeddings answer (same attributes as ChatResponse)."""

    __slots__ = ()


class ChatStream:
    """A chat answer being streamed, built in one step from its events.

    Iterating yields bytes holding whole SSE events in OpenAI's chunk format
    (``data: {...}\\n\\n``), as they arrive; the core appends ``data: [DONE]``. The adapter
    sets :attr:`usage` when the upstream reports it (at the latest when iteration ends).
    :meth:`aclose` releases the upstream connection; the core always calls it, also when
    the client goes away mid-stream.

    :param events: the chunks (an async generator, typically :func:`plugbay.wire.relay`).
    :param aclose: called once by :meth:`aclose`, after ``events`` is closed (the upstream
        response's ``aclose``).
    :param headers: upstream response headers to relay to the client (a header the gateway
        sets itself wins; see :attr:`ChatResponse.headers`).
    """

    __slots__ = ("_close", "events", "headers", "usage")

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        aclose: Callable[[], Awaitable[None]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.events = events
        self.usage: Usage | None = None
        self.headers = headers
        self._close = aclose

    @classmethod
    def build(
        cls,
        make_events: Callable[[ChatStream], AsyncIterator[bytes]],
        *,
        aclose: Callable[[], Awaitable[None]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ChatStream:
        """A stream whose events need the stream itself (to set :attr:`usage` as it comes):
        ``ChatStream.build(lambda stream: self._events(request, stream))``."""
        stream = cls.__new__(cls)
        stream.usage = None
        stream.headers = headers
        stream._close = aclose
        stream.events = make_events(stream)
        return stream

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.events

    async def aclose(self) -> None:
        events, close = self.events, self._close
        self._close = None
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
        if close is not None:
            await close()


class Principal:
    """Who is calling, and what they may do; returned by an authenticator.

    ``None`` for ``models`` or ``scopes`` means no restriction. ``models`` holds exact
    names and ``prefix*`` patterns. ``rpm``, ``tpm`` (per minute) and ``max_parallel``
    (requests in flight at once) are the key's own limits, ``None`` when it has none; rate
    limiters enforce them.
    """

    __slots__ = (
        "key_id",
        "max_budget",
        "max_parallel",
        "metadata",
        "models",
        "name",
        "rpm",
        "scopes",
        "spend",
        "tpm",
    )

    def __init__(
        self,
        *,
        key_id: str | None = None,
        name: str = "",
        models: tuple[str, ...] | None = None,
        scopes: frozenset[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        max_parallel: int | None = None,
        max_budget: float | None = None,
        spend: float = 0.0,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.key_id = key_id
        self.name = name
        self.models = models
        self.scopes = scopes
        self.rpm = rpm
        self.tpm = tpm
        self.max_parallel = max_parallel
        self.max_budget = max_budget
        self.spend = spend
        self.metadata = metadata or {}

    def may_use(self, model: str) -> bool:
        allowed = self.models
        if allowed is None:
            return True
        for pattern in allowed:
            if pattern == model or (pattern.endswith("*") and model.startswith(pattern[:-1])):
                return True
        return False

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    def __repr__(self) -> str:
        return f"Principal(key_id={self.key_id!r}, name={self.name!r})"


class RequestContext:
    """One request's state as it moves through the gateway; policies read and annotate it.

    :ivar headers: the request's headers, names in lower case.
    :ivar request: the decoded request (a :class:`ChatRequest` or :class:`EmbeddingsRequest`),
        set before rate limiters are asked; ``None`` until then.
    :ivar response_headers: headers of the answer (``x-request-id``; policies add theirs).
    :ivar extra: free space for plugins, namespaced by plugin name.
    :ivar cost_usd: the request's cost at the model's price, set when it finished (before the
        rate limiters settle); ``None`` when the price or the usage is unknown.
    :ivar deployment: the deployment the router chose (``provider/model``), once it did.
    :ivar attempts: upstream attempts made so far.
    :ivar price: the chosen deployment's price (what the request is charged at).
    :ivar spend_settled: set by a rate limiter that accounts this request's cost against the
        key's budget itself; the core then leaves ``principal.spend`` alone.
    """

    __slots__ = (
        "attempts",
        "cache_status",
        "cost_usd",
        "deployment",
        "endpoint",
        "error_code",
        "estimated_tokens",
        "extra",
        "first_chunk_at",
        "headers",
        "model",
        "price",
        "principal",
        "provider",
        "request",
        "request_id",
        "response_headers",
        "spend_settled",
        "started",
        "started_at",
        "status",
        "stream",
        "upstream_model",
        "usage",
    )

    def __init__(self, request_id: str, endpoint: str) -> None:
        self.request_id = request_id
        self.endpoint = endpoint
        self.started = time.perf_counter()
        self.started_at = time.time()
        self.headers: Mapping[str, str] = {}
        self.request: ChatRequest | EmbeddingsRequest | None = None
        self.principal: Principal | None = None
        self.model: str | None = None
        self.provider: str | None = None
        self.upstream_model: str | None = None
        self.deployment: str | None = None
        self.attempts = 0
        self.price: Price | None = None
        self.stream = False
        self.estimated_tokens = 0
        self.first_chunk_at: float | None = None
        self.usage: Usage | None = None
        self.status = 200
        self.error_code: str | None = None
        self.cache_status: str | None = None
        self.cost_usd: float | None = None
        self.spend_settled = False
        self.response_headers: dict[str, str] = {"x-request-id": request_id}
        self.extra: dict[str, Any] = {}


class FinishedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The request-finished event: what usage and telemetry plugins receive."""

    request_id: str
    endpoint: str
    started_at: float
    latency_ms: float
    time_to_first_chunk_ms: float | None
    status: int
    error_code: str | None
    key_id: str | None
    model: str | None
    provider: str | None
    upstream_model: str | None
    stream: bool
    cache_status: str | None
    usage: Usage | None
    cost_usd: float | None = None
    """USD at the serving deployment's price; ``None`` when the price or the usage is
    unknown."""
    deployment: str | None = None
    """The deployment that served it (the last one tried, if none did)."""
    attempts: int = 0
    """Upstream attempts it took (0: none, e.g. a cache hit or a refusal)."""


class RecordedUsage(msgspec.Struct, frozen=True, kw_only=True):
    """A batch of usage records that was just written to the registry (one transaction).

    Given to the optional ``usage_recorded(gateway, batch)`` method of registered objects.
    """

    requests: tuple[tuple[str, str | None], ...]
    """``(request_id, key_id)`` of every record written."""
    spend: Mapping[str, float]
    """Key id → the key's ``spend`` in the registry just after the write, for every key of
    the batch that the registry holds (keys of other authenticators are absent)."""
