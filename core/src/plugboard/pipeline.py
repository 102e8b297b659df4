"""The request path for ``/v1/chat/completions`` and ``/v1/embeddings``.

authenticate → read and decode the body once → resolve the public model → rate limiters →
cache → the provider → relay → finish (limiters settle, request-finished listeners).
Everything it calls was resolved at start-up; nothing here touches pluggy or the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from plugboard import _asgi
from plugboard._validation import describe
from plugboard.auth import require_scope
from plugboard.errors import InvalidRequest, PermissionDenied, PlugboardError, UpstreamError
from plugboard.schemas import ChatCompletionParams, EmbeddingsParams, Usage
from plugboard.types import ChatRequest, EmbeddingsRequest, RequestContext
from plugboard.wire import DONE

if TYPE_CHECKING:
    from plugboard.gateway import Gateway, Route
    from plugboard.types import ChatStream

log = logging.getLogger("plugboard.request")

_decode = msgspec.json.Decoder().decode


def _decode_body(raw: bytes, params_type: type[Any]) -> tuple[dict[str, Any], Any]:
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequest(
            "We could not parse the JSON body of your request. The body must be valid JSON."
        ) from None
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
        ctx.principal = await gateway.auth.authenticate(headers)
        raw = await _asgi.read_body(receive, headers, gateway.max_body_size)
        await answer(gateway, ctx, raw, send, receive)
    except PlugboardError as error:
        await _fail(ctx, send, error)
    except _asgi.ClientDisconnected:
        ctx.status, ctx.error_code = 499, "client_disconnected"
    except Exception as exc:  # never a bare 500 with a traceback for the client
        log.exception("request %s failed", ctx.request_id)
        await _fail(
            ctx,
            send,
            PlugboardError(f"Internal error ({type(exc).__name__}).", code="internal_error"),
        )
    finally:
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
    request = ChatRequest(
        params=params,
        body=body,
        raw=raw,
        public_model=params.model,
        upstream_model=route.upstream_model,
        request_id=ctx.request_id,
    )
    ctx.request = request
    await gateway.admit(ctx)
    if ctx.stream:
        stream = await route.provider.chat_stream(request)
        await _relay_stream(ctx, request, stream, send, receive)
    else:
        response = await route.provider.chat(request)
        ctx.usage = response.usage
        ctx.first_chunk_at = time.perf_counter()
        await _asgi.send_json(send, 200, response.content, ctx.response_headers)


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
    request = EmbeddingsRequest(
        params=params,
        body=body,
        raw=raw,
        public_model=params.model,
        upstream_model=route.upstream_model,
        request_id=ctx.request_id,
    )
    ctx.request = request
    await gateway.admit(ctx)
    response = await route.provider.embeddings(request)
    ctx.usage = response.usage
    ctx.first_chunk_at = time.perf_counter()
    await _asgi.send_json(send, 200, response.content, ctx.response_headers)


async def _relay_stream(
    ctx: RequestContext,
    request: ChatRequest,
    stream: ChatStream,
    send: _asgi.Send,
    receive: _asgi.Receive,
) -> None:
    events = 0

    def on_first() -> None:
        ctx.first_chunk_at = time.perf_counter()

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal events
        try:
            async for chunk in stream:
                events += chunk.count(b"data:")
                yield chunk
        except PlugboardError as error:
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
        ctx.extra["plugboard.usage_estimated"] = True
    if not completed:
        ctx.status, ctx.error_code = 499, "client_disconnected"


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


async def _fail(ctx: RequestContext, send: _asgi.Send, error: PlugboardError) -> None:
    ctx.status, ctx.error_code = error.status_code, error.code
    try:
        await _asgi.send_error(send, error, ctx.response_headers)
    except OSError:  # the client is gone; nothing to tell it
        pass
