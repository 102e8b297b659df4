"""The request path for ``/v1/chat/completions`` and ``/v1/embeddings``.

authenticate → read and decode the body once → resolve the public model → rate limiters →
cache (complete answers; streams bypass it) → the provider → relay → finish (limiters
settle, request-finished listeners). A client that leaves while the provider works cancels
the upstream call at once (status 499), streaming or not.
Everything it calls was resolved at start-up; nothing here touches pluggy or the database.

With a cache installed every answer says ``x-plugbay-cache: hit|miss|bypass``. The
cache is asked after the rate limiters (a hit counts as a request) unless the request says
``Cache-Control: no-cache``; successful answers are stored unless it says ``no-store`` (or
the cache's ``get`` set ``ctx.cache_status = "bypass"``: it does not apply to the request). A
hit is served with zero usage; a ``stream: true`` request is answered from a cached
completion replayed as SSE, and a completed stream is assembled into a completion for the
cache (:mod:`plugbay._replay`). A failing cache is logged and treated as a miss.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from plugbay import _asgi
from plugbay._auth import require_scope
from plugbay._errors import InvalidRequest, PermissionDenied, PlugbayError, UpstreamError
from plugbay._replay import StreamAssembler, replay_events
from plugbay._types import (
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    RequestContext,
)
from plugbay._validation import describe
from plugbay.schemas import ChatCompletionParams, EmbeddingsParams, Usage
from plugbay.wire import DONE

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._protocols import Cache
    from plugbay._router.deployments import Deployment
    from plugbay._router.router import Route

log = logging.getLogger("plugbay.request")

_decode = msgspec.json.Decoder().decode
CallT = TypeVar("CallT", ChatRequest, EmbeddingsRequest)
CACHE_HEADER = "x-plugbay-cache"
STATS = "plugbay.stats"


def _decode_body(raw: bytes, params_type: type[Any]) -> tuple[dict[str, Any], Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = _decode(raw)
    # msgspec raises UnicodeDecodeError on bad UTF-8 and RecursionError on deep nesting.
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise _asgi.invalid_json() from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        params = msgspec.convert(body, params_type, strict=True)
    except msgspec.ValidationError as exc:
        param, message = describe(exc)
        raise InvalidRequest(
            f"Invalid request: {message}" + (f" at `{param}`" if param else ""), param=param
        ) from None
    return body, params


def _authorise(gateway: Gateway, ctx: RequestContext, model: str, scope: str) -> Route:
    principal = ctx.principal
    assert principal is not None
    route = gateway.resolve(model)
    require_scope(principal, scope)
    if not principal.may_use(model):
        raise PermissionDenied(
            f"This key is not allowed to use the model `{model}`.",
            param="model",
            code="model_not_allowed",
        )
    ctx.model = model
    ctx.provider = route.provider_name
    ctx.upstream_model = route.upstream_model
    if not gateway.routing:  # the router charges the provider it tries; without it, this one
        stats = gateway.stats.of(route.provider_name)
        stats.in_flight += 1
        ctx.extra[STATS] = stats
    return route


Answer = Callable[["Gateway", RequestContext, bytes, _asgi.Send, _asgi.Receive], Awaitable[None]]


async def _serve(
    gateway: Gateway,
    scope: _asgi.Scope,
    receive: _asgi.Receive,
    send: _asgi.Send,
    endpoint: str,
    answer: Answer,
) -> None:
    """The steps every endpoint shares, and the one place request errors become answers."""
    ctx = RequestContext(_asgi.request_id(scope), endpoint)
    try:
        headers = _asgi.header_map(scope)
        ctx.headers = headers
        if gateway.cache is not None:
            ctx.response_headers[CACHE_HEADER] = "bypass"
        ctx.principal = await gateway.auth.authenticate(headers)
        raw = await _asgi.read_body(receive, headers, gateway.max_body_size)
        await answer(gateway, ctx, raw, send, receive)
    except PlugbayError as error:
        await _fail(ctx, send, error)
    except _asgi.ClientDisconnected:
        ctx.status, ctx.error_code = 499, "client_disconnected"
    except Exception as exc:  # never a bare 500 with a traceback for the client
        log.exception("request %s failed", ctx.request_id)
        await _fail(ctx, send, _asgi.internal_error(exc))
    finally:
        stats = ctx.extra.get(STATS)
        if stats is not None:
            stats.finished(ctx)
        await gateway.finish(ctx)


async def handle_chat(
    gateway: Gateway, scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send
) -> None:
    await _serve(gateway, scope, receive, send, "chat", _answer_chat)


async def handle_embeddings(
    gateway: Gateway, scope: _asgi.Scope, receive: _asgi.Receive, send: _asgi.Send
) -> None:
    await _serve(gateway, scope, receive, send, "embeddings", _answer_embeddings)


async def _answer_chat(
    gateway: Gateway, ctx: RequestContext, raw: bytes, send: _asgi.Send, receive: _asgi.Receive
) -> None:
    body, params = _decode_body(raw, ChatCompletionParams)
    if not params.messages:
        raise InvalidRequest("`messages` must contain at least one message.", param="messages")
    route = _authorise(gateway, ctx, params.model, "chat")
    ctx.stream = bool(params.stream)
    request = _call(ChatRequest, ctx, route, params, body, raw)
    cache, cached, store = await _admit(gateway, ctx, request)
    if cached is not None:
        if ctx.stream:
            replay = ChatStream(_aiter(replay_events(cached, request.client_wants_usage)))
            replay.usage = ctx.usage
            await _relay_stream(ctx, request, replay, send, receive)
        else:
            await _answer(ctx, send, cached)
        return
    router = gateway.router if gateway.routing else None
    if ctx.stream:
        opening = (
            route.provider.chat_stream(request)
            if router is None
            else router.run(ctx, route, request, _open_stream)
        )
        stream = await _asgi.unless_disconnected(receive, opening)
        if stream.headers:
            _relay_headers(ctx, stream.headers)
        assembler = StreamAssembler() if store else None
        completed = await _relay_stream(ctx, request, stream, send, receive, assembler)
        if assembler is not None and completed and ctx.status == 200:
            content = assembler.result(ctx.usage)
            if content is not None:
                await _store(cache, ctx, request, content)
    else:
        calling = (
            route.provider.chat(request)
            if router is None
            else router.run(ctx, route, request, _chat, _refused)
        )
        response = await _asgi.unless_disconnected(receive, calling)
        ctx.usage = response.usage
        if response.headers:
            _relay_headers(ctx, response.headers)
        await _answer(ctx, send, response.content)
        if store:
            await _store(cache, ctx, request, response.content)


async def _answer_embeddings(
    gateway: Gateway, ctx: RequestContext, raw: bytes, send: _asgi.Send, receive: _asgi.Receive
) -> None:
    body, params = _decode_body(raw, EmbeddingsParams)
    if params.encoding_format not in (None, "float", "base64"):
        raise InvalidRequest(
            "`encoding_format` must be `float` or `base64`.", param="encoding_format"
        )
    problem = params.input_error()
    if problem is not None:
        raise InvalidRequest(problem, param="input")
    route = _authorise(gateway, ctx, params.model, "embeddings")
    request = _call(EmbeddingsRequest, ctx, route, params, body, raw)
    cache, cached, store = await _admit(gateway, ctx, request)
    if cached is not None:
        await _answer(ctx, send, cached)
        return
    embedding = (
        gateway.router.run(ctx, route, request, _embed)
        if gateway.routing
        else route.provider.embeddings(request)
    )
    response = await _asgi.unless_disconnected(receive, embedding)
    ctx.usage = response.usage
    if response.headers:
        _relay_headers(ctx, response.headers)
    await _answer(ctx, send, response.content)
    if store:
        await _store(cache, ctx, request, response.content)


def _chat(deployment: Deployment, request: ChatRequest) -> Awaitable[ChatResponse]:
    return deployment.provider.chat(request)


def _embed(deployment: Deployment, request: EmbeddingsRequest) -> Awaitable[EmbeddingsResponse]:
    return deployment.provider.embeddings(request)


def _refused(response: ChatResponse) -> bool:
    """Whether an answer ended on a content filter (its fallbacks may answer instead)."""
    return b'"content_filter"' in response.content


async def _open_stream(deployment: Deployment, request: ChatRequest) -> ChatStream:
    """The deployment's stream with its first event read: until the client has been sent a
    byte, a failing upstream can be replaced by another deployment."""
    stream = await deployment.provider.chat_stream(request)
    events = stream.events
    try:
        first = await anext(aiter(events))
    except StopAsyncIteration:
        return stream
    except BaseException:
        await stream.aclose()
        raise
    stream.events = _prepend(first, events)
    return stream


async def _prepend(first: bytes, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for event in events:
            yield event
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()


def _call(
    kind: type[CallT],
    ctx: RequestContext,
    route: Route,
    params: Any,
    body: dict[str, Any],
    raw: bytes,
) -> CallT:
    return kind(
        params=params,
        body=body,
        raw=raw,
        public_model=params.model,
        upstream_model=route.upstream_model,
        request_id=ctx.request_id,
    )


async def _admit(
    gateway: Gateway, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
) -> tuple[Cache | None, bytes | None, bool]:
    """Rate limiters, then the cache: ``(cache, cached answer or None, store the answer?)``."""
    ctx.request = request
    await gateway.admit(ctx)
    cache = gateway.cache
    if cache is None:
        return None, None, False
    cached, store = await _lookup(cache, ctx, request)
    return cache, cached, store


def _relay_headers(ctx: RequestContext, headers: Mapping[str, str]) -> None:
    """Add an upstream's headers to the answer's: a header the gateway set wins, and once a
    rate limiter set any ``x-ratelimit-*`` header, the upstream's are not mixed in."""
    mine = ctx.response_headers
    limited = any(name.startswith("x-ratelimit-") for name in mine)
    for name, value in headers.items():
        if name not in mine and not (limited and name.startswith("x-ratelimit-")):
            mine[name] = value


async def _answer(ctx: RequestContext, send: _asgi.Send, content: bytes) -> None:
    ctx.first_chunk_at = time.perf_counter()
    await _asgi.send_json(send, 200, content, ctx.response_headers)


def _cache_control(ctx: RequestContext) -> tuple[bool, bool]:
    """(look up, store) as the request's ``Cache-Control`` allows."""
    value = ctx.headers.get("cache-control")
    if not value:
        return True, True
    directives = {part.split("=", 1)[0].strip().lower() for part in value.split(",")}
    return "no-cache" not in directives, "no-store" not in directives


async def _lookup(
    cache: Cache, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest
) -> tuple[bytes | None, bool]:
    """The cached answer, if any (then ``ctx.usage`` is zero), and whether to store one."""
    lookup, store = _cache_control(ctx)
    status = "bypass"
    if lookup:
        try:
            cached = await cache.get(ctx, request)
        except Exception:
            log.exception("cache lookup failed; answering without the cache")
            cached = None
        if cached is not None:
            ctx.cache_status = ctx.response_headers[CACHE_HEADER] = "hit"
            ctx.usage = Usage()
            return cached, False
        if ctx.cache_status == "bypass":  # the cache does not apply to this request
            ctx.response_headers[CACHE_HEADER] = "bypass"
            return None, False
        status = "miss"
    ctx.cache_status = ctx.response_headers[CACHE_HEADER] = status
    return None, store


async def _store(
    cache: Cache | None,
    ctx: RequestContext,
    request: ChatRequest | EmbeddingsRequest,
    content: bytes,
) -> None:
    if cache is None:
        return
    try:
        await cache.set(ctx, request, content)
    except Exception:
        log.exception("storing an answer in the cache failed")


async def _aiter(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


async def _relay_stream(
    ctx: RequestContext,
    request: ChatRequest,
    stream: ChatStream,
    send: _asgi.Send,
    receive: _asgi.Receive,
    assembler: StreamAssembler | None = None,
) -> bool:
    """Relay ``stream``; return whether it ran to its end (the client stayed)."""
    events = 0

    def on_first() -> None:
        ctx.first_chunk_at = time.perf_counter()

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal events
        try:
            if assembler is None:
                async for chunk in stream:
                    events += chunk.count(b"data:")
                    yield chunk
            else:
                async for chunk in stream:
                    events += chunk.count(b"data:")
                    assembler.feed(chunk)
                    yield chunk
        except PlugbayError as error:
            ctx.status, ctx.error_code = error.status_code, error.code
            yield b"data: " + error.body() + b"\n\n"
        except Exception as exc:
            log.warning("stream %s broke: %s: %s", ctx.request_id, type(exc).__name__, exc)
            ctx.status, ctx.error_code = 502, "upstream_error"
            yield b"data: " + UpstreamError("The upstream stream broke.").body() + b"\n\n"
        yield DONE

    try:
        completed = await _asgi.send_stream(send, receive, chunks(), ctx.response_headers, on_first)
    finally:
        ctx.usage = stream.usage
        await stream.aclose()
    if ctx.usage is None and events:
        ctx.usage = estimate_usage(request, events)
        ctx.extra["plugbay.usage_estimated"] = True
    if not completed:
        ctx.status, ctx.error_code = 499, "client_disconnected"
    return completed


def estimate_usage(request: ChatRequest, events: int) -> Usage:
    """Usage counted when the upstream reported none: ~4 characters a prompt token, and one
    completion token per streamed chunk (first and last carry none)."""
    chars = 0
    for message in request.params.messages:
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        elif content:
            chars += sum(len(str(part.get("text", ""))) for part in content)
    prompt = max(1, (chars + 3) // 4)
    completion = max(0, events - 2)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


async def _fail(ctx: RequestContext, send: _asgi.Send, error: PlugbayError) -> None:
    ctx.status, ctx.error_code = error.status_code, error.code
    try:
        await _asgi.send_error(send, error, ctx.response_headers)
    except OSError:  # the client is gone; nothing to tell it
        pass
