"""Raw ASGI for the hot path: reading a body, answering, streaming, request ids, errors.

The ``/v1`` completion endpoints are raw ASGI apps the app dispatches to by exact path before
Litestar's router, middleware and send wrappers (those cost ~65 µs a request and a wrapper
call per streamed chunk on this machine; see docs/performance.md).

Both halves of the app -- these endpoints and Litestar (models, health, admin, plugin
routes) -- take their request id from :func:`request_id` and answer every error with
:func:`send_error`, so one error renders byte for byte the same wherever it happens. The
errors only the app (not a handler) raises are built here too: :func:`internal_error`,
:func:`method_not_allowed`, :func:`unknown_url`, :func:`invalid_json`.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable
from typing import Any, TypeVar

from plugbay._errors import InvalidRequest, NotFound, PayloadTooLarge, PlugbayError

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]
Headers = list[tuple[bytes, bytes]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = (b"content-type", b"application/json")
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_REQUEST_ID = "plugbay.request_id"
_random_bits = random.getrandbits
_VALID_ID = re.compile(rb"^[\x21-\x7e]{1,200}$")
T = TypeVar("T")


class ClientDisconnected(Exception):
    """The client went away before its answer was sent."""


def request_id(scope: Scope) -> str:
    """The client's ``x-request-id`` when it is sane, else a new one; fixed per request."""
    rid = scope.get(_REQUEST_ID)
    if rid is None:
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id" and _VALID_ID.match(value):
                rid = value.decode("ascii")
                break
        else:
            rid = f"req_{_random_bits(128):032x}"  # unique, not secret: no syscall needed
        scope[_REQUEST_ID] = rid
    return str(rid)


async def add_request_id(message: dict[str, Any], scope: Scope) -> None:
    """Litestar ``before_send`` hook: every answer carries ``x-request-id`` (once: an error
    answer from :func:`send_error` has it already)."""
    if message["type"] == "http.response.start":
        headers = message.setdefault("headers", [])
        for name, _ in headers:
            if name == b"x-request-id":
                return
        rid = request_id(scope).encode("ascii")
        if isinstance(headers, list):
            headers.append((b"x-request-id", rid))
        else:
            message["headers"] = [*headers, (b"x-request-id", rid)]


def header_map(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    length = headers.get("content-length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise InvalidRequest("Invalid Content-Length header.") from None
        if declared > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large: the limit is {limit} bytes.")


def encode_headers(extra: dict[str, str]) -> Iterable[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]


async def send_json(
    send: Send, status: int, body: bytes, extra: dict[str, str] | None = None
) -> None:
    headers: Headers = [JSON, (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(encode_headers(extra))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: PlugbayError, headers: dict[str, str]) -> None:
    """The one error renderer: ``error``'s status and OpenAI body, ``headers`` (the answer's:
    ``x-request-id`` first, then what policies added), then the error's own headers."""
    await send_json(send, error.status_code, error.body(), {**headers, **error.headers})


def internal_error(exc: BaseException) -> PlugbayError:
    """What a client is told of an unexpected exception: its type, never its message."""
    return PlugbayError(f"Internal error ({type(exc).__name__}).", code="internal_error")


def method_not_allowed(method: str, allowed: str) -> InvalidRequest:
    return InvalidRequest(
        f"Method {method} is not allowed here; use {allowed}.",
        status_code=405,
        code="method_not_allowed",
        headers={"allow": allowed},
    )


def unknown_url(method: str, path: str) -> NotFound:
    return NotFound(f"Unknown request URL: {method} {path}.")


def invalid_json() -> InvalidRequest:
    return InvalidRequest(
        "We could not parse the JSON body of your request. The body must be valid JSON."
    )


async def send_stream(
    send: Send,
    receive: Receive,
    chunks: AsyncIterator[bytes],
    extra: dict[str, str] | None,
    on_first: Callable[[], None],
) -> bool:
    """Relay ``chunks`` as an SSE answer; return False if the client disconnected first.

    A watcher task waits for ``http.disconnect`` and cancels this task, so a client that
    leaves stops the upstream request at once, even while the upstream is silent.
    """
    headers = list(SSE_HEADERS)
    if extra:
        headers.extend(encode_headers(extra))
    await send({"type": "http.response.start", "status": 200, "headers": headers})

    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        first = True
        async for chunk in chunks:
            if first:
                on_first()
                first = False
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()  # our own watcher cancelled us: the client went away
        return False
    except OSError:  # uvicorn raises ClientDisconnected (an OSError) on send
        return False
    finally:
        watcher.cancel()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True


async def unless_disconnected(receive: Receive, call: Awaitable[T]) -> T:
    """Await ``call`` (an upstream call); if the client disconnects first, cancel it at once
    and raise :class:`ClientDisconnected`.

    Without a task: see :class:`_DisconnectWatch`.
    """
    task = asyncio.current_task()
    assert task is not None
    cancelling = task.cancelling()
    watch = _DisconnectWatch(receive, task)
    if watch.left():  # gone already: the call is not even started
        if isinstance(call, Coroutine):
            call.close()
        raise ClientDisconnected
    try:
        result = await call
    except asyncio.CancelledError:
        if watch.left() and task.uncancel() <= cancelling:
            raise ClientDisconnected from None
        raise
    finally:
        watch.close()
    if watch.left():  # the call swallowed its cancellation; the client is gone all the same
        task.uncancel()
        raise ClientDisconnected
    return result


class _DisconnectWatch:
    """Cancels ``task`` when ``receive()`` says ``http.disconnect``, without a task of its own.

    ``receive()`` is stepped by hand, as a task would step it: each future it waits on gets
    this watch as its done-callback. That costs about a microsecond, where a watcher task
    costs a task per request. :meth:`close` throws the pending ``receive()`` away (an ASGI
    server's ``receive`` only waits for the next message; abandoning it is safe).
    """

    __slots__ = ("_gone", "_open", "_receive", "_step", "_task", "_waiting", "_watching")

    def __init__(self, receive: Receive, task: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._task = task
        self._step: Generator[Any, None, Any] | None = None
        self._waiting: Any = None
        self._open = True
        self._gone = False
        self._watching = False
        self._advance()
        self._watching = True  # from now on, a disconnect cancels the task

    def _advance(self, _: object = None) -> None:
        self._waiting = None
        for _spin in range(8):  # messages that come at once and are not a disconnect
            if not self._open:
                return
            if self._step is None:
                self._step = self._receive().__await__()
            try:
                waited = self._step.send(None)
            except StopIteration as done:
                self._step = None
                if done.value["type"] == "http.disconnect":
                    self._open = False
                    self._gone = True
                    if self._watching:
                        self._task.cancel()
                    return
                continue
            except BaseException:  # the server's receive failed: nothing left to watch
                self.close()
                return
            if waited is None:  # a bare yield: step again on the next loop iteration
                asyncio.get_running_loop().call_soon(self._advance)
            elif getattr(waited, "_asyncio_future_blocking", False):
                waited._asyncio_future_blocking = False
                waited.add_done_callback(self._advance)
                self._waiting = waited
            else:  # not an asyncio future: it cannot be waited on from here
                self.close()
            return
        self.close()

    def left(self) -> bool:
        """Whether the client disconnected."""
        return self._gone

    def close(self) -> None:
        self._open = False
        step, self._step = self._step, None
        if self._waiting is not None:
            self._waiting.remove_done_callback(self._advance)
            self._waiting = None
        if step is not None:
            step.close()
