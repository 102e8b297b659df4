"""A scripted upstream: a real aiohttp server on 127.0.0.1, in a thread of its own.

Queue replies with :meth:`ScriptedUpstream.script`; each request takes the next one (for
its path, if queued per path). Unscripted requests get the default OpenAI-compatible answer.
Run ``python -m plugbay.testing.openai_upstream --port N`` for a standalone one.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from aiohttp import web

__all__ = ["RecordedRequest", "Reply", "ScriptedUpstream"]

_encode = msgspec.json.Encoder().encode


class Reply:
    """One scripted answer. Build with the class methods."""

    def __init__(
        self,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        events: Iterable[Any] | None = None,
        delay: float = 0.0,
        interval: float = 0.0,
        drop: bool = False,
        hang_after: int | None = None,
        piece: int | None = None,
        cut_after: int | None = None,
    ) -> None:
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.events = None if events is None else list(events)
        self.delay = delay
        self.interval = interval
        self.drop = drop
        self.hang_after = hang_after
        self.piece = piece
        self.cut_after = cut_after

    @classmethod
    def json(
        cls, body: Any, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> Reply:
        data = body if isinstance(body, bytes) else _encode(body)
        return cls(
            status=status,
            body=data,
            delay=delay,
            headers={"content-type": "application/json", **(headers or {})},
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """OpenAI's error body."""
        return cls.json(
            {"error": {"message": message, "type": type, "param": None, "code": code}},
            status=status,
            headers=headers,
        )

    @classmethod
    def sse(
        cls,
        events: Iterable[Any],
        *,
        status: int = 200,
        interval: float = 0.0,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        hang_after: int | None = None,
        drop: bool = False,
    ) -> Reply:
        """A ``text/event-stream`` answer.

        Each event is written as it is when ``bytes`` or ``str`` (give whole events, with
        their ``event:`` lines and blank-line terminator); anything else is written as
        ``data: <json>``. ``interval`` seconds pass between events; with ``hang_after=N`` the
        server stops after N events and keeps the connection open; with ``drop`` it closes
        the connection after the events without ending the response (a broken stream).
        """
        return cls(
            status=status,
            events=events,
            interval=interval,
            delay=delay,
            hang_after=hang_after,
            drop=drop,
            headers={
                "content-type": "text/event-stream",
                "cache-control": "no-cache",
                **(headers or {}),
            },
        )

    @classmethod
    def drip(
        cls,
        body: Any,
        *,
        interval: float,
        piece: int = 1,
        status: int = 200,
        headers: dict[str, str] | None = None,
        cut_after: int | None = None,
    ) -> Reply:
        """A whole answer (``Content-Length`` set) written ``piece`` bytes at a time,
        ``interval`` seconds apart: each read is quick, the answer never ends in time.

        ``body`` is bytes, or JSON-encoded. With ``cut_after=N`` the connection closes after
        N bytes, short of the declared length (an answer cut in the middle).
        """
        data = body if isinstance(body, bytes) else _encode(body)
        return cls(
            status=status,
            body=data,
            interval=interval,
            piece=piece,
            cut_after=cut_after,
            headers={"content-type": "application/json", **(headers or {})},
        )

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        """Answer nothing for ``seconds`` (then a 200 with an empty JSON object)."""
        return cls.json({}, delay=seconds)

    @classmethod
    def disconnect(cls) -> Reply:
        """Close the connection without answering."""
        return cls(drop=True)


class RecordedRequest:
    """What the upstream received."""

    def __init__(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        remote: tuple[str, int] | None = None,
    ) -> None:
        self.received_at = time.monotonic()
        """When it arrived (``time.monotonic()``)."""
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.remote = remote
        """The client's (host, port): requests on one pooled connection share it."""
        self.done = threading.Event()
        """Set when the answer was sent or the client went away."""
        self.disconnected = False
        """Whether the client went away before the answer was complete."""

    def json(self) -> Any:
        return msgspec.json.decode(self.body)

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.path})"


Responder = Callable[[RecordedRequest], Reply]


class ScriptedUpstream:
    def __init__(
        self, default: Responder | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if default is None:
            from plugbay.testing.openai_upstream import openai_default

            default = openai_default
        self.default = default
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._queue: collections.deque[Reply] = collections.deque()
        self._by_path: dict[str, collections.deque[Reply]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # --- scripting ------------------------------------------------------------------------------

    def script(self, *replies: Reply, path: str | None = None) -> ScriptedUpstream:
        with self._lock:
            queue = (
                self._queue if path is None else self._by_path.setdefault(path, collections.deque())
            )
            queue.extend(replies)
        return self

    def clear(self) -> ScriptedUpstream:
        """Forget the requests received and the replies not taken yet."""
        with self._lock:
            self._queue.clear()
            self._by_path.clear()
            self.requests.clear()
        return self

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            queue = self._by_path.get(request.path)
            if queue:
                return queue.popleft()
            if self._queue:
                return self._queue.popleft()
        return self.default(request)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``.../v1``)."""
        return self.url + "/v1"

    def wait_arrived(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests have arrived, answered or not (one being held)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")
            time.sleep(0.005)
        return self.requests

    def wait_for(self, count: int, timeout: float = 30.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests have arrived and been answered (or abandoned)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count and all(r.done.is_set() for r in self.requests):
                return self.requests
            time.sleep(0.005)
        raise TimeoutError(f"expected {count} requests, got {len(self.requests)}")

    # --- serving --------------------------------------------------------------------------------

    async def _handle(self, http_request: web.Request) -> web.StreamResponse:
        body = await http_request.read()
        transport = http_request.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        recorded = RecordedRequest(
            http_request.method,
            http_request.path,
            dict(http_request.query),
            {k.lower(): v for k, v in http_request.headers.items()},
            body,
            (peer[0], peer[1]) if peer else None,
        )
        self.requests.append(recorded)
        try:
            return await self._answer(http_request, recorded)
        except (asyncio.CancelledError, ConnectionResetError):
            recorded.disconnected = True
            raise
        finally:
            recorded.done.set()

    async def _answer(
        self, http_request: web.Request, recorded: RecordedRequest
    ) -> web.StreamResponse:
        reply = self._next(recorded)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop and reply.events is None:
            _close(http_request)
        if reply.piece is not None:
            return await _drip(http_request, reply)
        if reply.events is None:
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        await response.prepare(http_request)
        for index, event in enumerate(reply.events):
            if reply.hang_after is not None and index >= reply.hang_after:
                await asyncio.sleep(3600)
            if index and reply.interval:
                await asyncio.sleep(reply.interval)
            await response.write(_event_bytes(event))
        if reply.drop:
            _close(http_request)
        await response.write_eof()
        return response

    def start(self) -> ScriptedUpstream:
        self._thread = threading.Thread(target=self._run, name="scripted-upstream", daemon=True)
        self._thread.start()
        started = self._started.wait(60)
        if self._error is not None:
            raise self._error
        if not started:
            raise TimeoutError("the scripted upstream did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
            loop.run_forever()
            loop.run_until_complete(self._cleanup())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._started.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.1,
            handler_cancellation=True,  # so `disconnected` is seen while a reply waits
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._started.set()

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> ScriptedUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _close(http_request: web.Request) -> None:
    """Close the connection mid-answer (the handler ends with it)."""
    transport = http_request.transport
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError


async def _drip(http_request: web.Request, reply: Reply) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=reply.headers)
    response.content_length = len(reply.body)
    await response.prepare(http_request)
    assert reply.piece is not None
    for start in range(0, len(reply.body), reply.piece):
        if reply.cut_after is not None and start >= reply.cut_after:
            _close(http_request)
        if start and reply.interval:
            await asyncio.sleep(reply.interval)
        await response.write(reply.body[start : start + reply.piece])
    await response.write_eof()
    return response


def _event_bytes(event: Any) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return b"data: " + _encode(event) + b"\n\n"
