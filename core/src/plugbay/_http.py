"""One pooled upstream client per provider: the httpx API over the aiohttp transport.

Every call through :meth:`UpstreamClient.send` is bounded, whatever the transport: a
non-streaming call by a total deadline and a size cap, a stream by a time-to-first-byte
deadline and an idle timeout between reads. Each bound is raised as a
:class:`~plugbay.PlugbayError` (504 for time, 502 for size or a broken connection), also
from the middle of a stream, so adapters need no exception handling of their own for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from types import FunctionType
from typing import Any

import httpx
from yarl import URL

from plugbay._aiohttp import AiohttpResponse, AiohttpTransport
from plugbay._bounded import BoundedBody, Watchdog, cut_short, declares_more
from plugbay._errors import PlugbayError, UpstreamError, UpstreamTimeout
from plugbay._settings import DEFAULT_MAX_RESPONSE_SIZE
from plugbay.wire import too_large, upstream_error

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "ErrorMapper", "UpstreamClient", "httpx_instrumented"]

ErrorMapper = Callable[[int, bytes, httpx.Headers], PlugbayError]
Opening = Coroutine[Any, Any, httpx.Response]

log = logging.getLogger("plugbay.http")


def httpx_instrumented() -> bool:
    """Whether something wraps httpx itself, so that it must see every upstream call.

    The official OpenTelemetry instrumentation (``HTTPXClientInstrumentor().instrument()``)
    wraps ``AsyncHTTPTransport.handle_async_request`` in place; older versions replaced
    ``httpx.AsyncClient``. A few dict lookups: cheap enough to ask on every call, so that
    instrumenting (or un-instrumenting) at any time takes effect on the next call.
    """
    return (
        type(vars(httpx.AsyncHTTPTransport).get("handle_async_request")) is not FunctionType
        # a subclass put in httpx.AsyncClient's place does not define send() itself
        or type(vars(httpx.AsyncClient).get("send")) is not FunctionType
    )


def _hooked(client: httpx.AsyncClient | None) -> bool:
    hooks = client.event_hooks if client is not None else None
    return bool(hooks and (hooks["request"] or hooks["response"]))


class UpstreamClient:
    """A provider's connection pool, opened on first use and closed with the provider.

    :attr:`client` is a full ``httpx.AsyncClient`` for anything unusual (its timeouts are
    httpx's own: ``timeout`` per read); :meth:`send` and :meth:`post` are the hot path, and
    bound every call. They take one of two roads:

    - the fast path, on the aiohttp transport when nothing watches httpx: the call goes
      straight to aiohttp and is answered with an :class:`~plugbay._aiohttp.AiohttpResponse`
      (an ``httpx.Response`` whose headers and request are built only if read; :meth:`post`
      builds no ``httpx.Request`` at all unless ``response.request`` is read);
    - the httpx path, as soon as anything would miss a call on the fast one: the httpx
      instrumentation is active (every call then goes through httpx's own transport, which
      is what it instruments), the transport is not the plain aiohttp one (a wrapper, or
      ``instrument_client`` on :attr:`client`), or :attr:`client` has event hooks (calls
      then go through :attr:`client`).

    :param timeout: seconds a non-streaming call may take in all (connection, request,
        answer); also the default of the two stream timeouts.
    :param first_byte_timeout: seconds a stream may take to send its first body byte.
    :param idle_timeout: seconds a stream may stay silent between two reads.
    :param max_response_size: the largest body :meth:`send` reads (non-streaming answers,
        and error answers to streams), in bytes; SSE readers cap one event at it.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        first_byte_timeout: float | None = None,
        idle_timeout: float | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = httpx.Headers(headers or {})
        self.timeout = timeout
        self.first_byte_timeout = timeout if first_byte_timeout is None else first_byte_timeout
        self.idle_timeout = timeout if idle_timeout is None else idle_timeout
        self.max_response_size = max_response_size
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        # send() bounds reads itself; a transport read timeout on top would only cost a
        # timer per read (and cut a stream whose first byte may take longer than its gaps).
        self._extensions = {
            "timeout": {"connect": connect_timeout, "read": None, "write": None, "pool": None}
        }
        if transport is None or transport == "aiohttp":
            transport = AiohttpTransport(
                max_connections=max_connections,
                connect_timeout=connect_timeout,
                read_timeout=timeout,
            )
        elif transport == "httpx":  # httpx's own pool: slower, but HTTP/2 and proxies
            limits = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            transport = httpx.AsyncHTTPTransport(limits=limits)
        elif isinstance(transport, str):
            raise ValueError(f"unknown transport {transport!r} (use aiohttp or httpx)")
        self._transport = transport
        self._max_connections = max_connections
        self._client: httpx.AsyncClient | None = None
        self._traced: httpx.AsyncClient | None = None
        self._urls: dict[str, httpx.URL] = {}
        # The fast path's own forms of the same things, made once.
        self._native_urls: dict[str, URL] = {}
        self._native_timeouts = (connect_timeout, None)

    @property
    def headers(self) -> httpx.Headers:
        """The headers every call carries. Replace them by assigning (the fast path keeps
        a prepared copy); changing the object in place is not seen by :meth:`post`."""
        return self._headers

    @headers.setter
    def headers(self, value: Mapping[str, str] | httpx.Headers) -> None:
        self._headers = httpx.Headers(value)
        self._native_headers = [
            (name.decode("latin-1"), v.decode("latin-1")) for name, v in self._headers.raw
        ]

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self.headers,
                timeout=self._timeout,
                transport=self._transport,
            )
        return self._client

    @property
    def transport(self) -> httpx.AsyncBaseTransport:
        return self._transport

    def url(self, path: str) -> httpx.URL:
        """``base_url`` joined with ``path`` (or ``path`` itself when absolute), memoised."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(path if "://" in path else self.base_url + path)
            self._urls[path] = url
        return url

    def build(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Request:
        """A request to ``path`` carrying the provider's default headers plus ``headers``."""
        url = self.url(path)
        if params:
            url = url.copy_merge_params(params)
        merged = self.headers
        if headers:
            merged = merged.copy()
            merged.update(headers)
        # httpx.Request copies the headers it is given: the defaults are never mutated.
        return httpx.Request(
            method, url, headers=merged, content=content, extensions=self._extensions
        )

    def _fast(self) -> AiohttpTransport | None:
        """The aiohttp transport, when the fast path may be taken for this call."""
        engine = self._transport  # (tests may swap it: looked at on every call)
        if (
            type(engine) is not AiohttpTransport
            or "handle_async_request" in vars(engine)  # wrapped in place (instrument_client)
            or httpx_instrumented()
        ):
            return None
        return None if _hooked(self._client) else engine

    def _send_httpx(self, request: httpx.Request) -> Opening:
        """The httpx road: through the client when it must be, else the transport itself."""
        if type(self._transport) is AiohttpTransport and httpx_instrumented():
            return self._traced_client().send(request, stream=True)
        client = self._client
        if client is None or not _hooked(client):
            return self._transport.handle_async_request(request)
        return client.send(request, stream=True)

    def _traced_client(self) -> httpx.AsyncClient:
        """A client on httpx's own transport: what the httpx instrumentation sees."""
        if self._traced is None:
            limits = httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
            )
            hooks = self._client.event_hooks if self._client is not None else None
            self._traced = httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(limits=limits),
                timeout=self._timeout,
                event_hooks=hooks,
            )
        return self._traced

    async def _open_sent(self, engine: AiohttpTransport, request: httpx.Request) -> httpx.Response:
        return AiohttpResponse(await engine.open_request(request), request)

    async def _open_post(
        self,
        engine: AiohttpTransport,
        path: str,
        content: bytes,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        url = self._native_urls.get(path)
        if url is None:
            url = self._native_urls[path] = engine.url(str(self.url(path)))
        native_headers = self._native_headers
        if headers:
            merged = self.headers.copy()
            merged.update(headers)
            native_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in merged.raw]
        limits = engine.timeout(self._native_timeouts)
        native = await engine.open("POST", url, native_headers, content, limits)
        build = partial(self.build, "POST", path, content=content, headers=headers)
        return AiohttpResponse(native, None, build)

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send ``request``; read the body unless ``stream``.

        Without ``stream`` the whole call must end within ``timeout`` and the body must fit
        ``max_response_size``. With ``stream`` the headers and the first body byte must
        arrive within ``first_byte_timeout``, and iterating the body raises
        :class:`~plugbay.UpstreamTimeout` after ``idle_timeout`` of silence; a non-2xx
        answer's body is capped as a whole one is. Network failures raise 502, time 504.
        """
        engine = self._fast()
        if engine is not None:
            return await self._bounded(self._open_sent(engine, request), stream)
        return await self._bounded(self._send_httpx(request), stream)

    async def _bounded(self, opening: Opening, stream: bool) -> httpx.Response:
        """Await ``opening`` (the call) and read its answer, within the call's bounds."""
        watchdog = Watchdog()
        seconds = self.first_byte_timeout if stream else self.timeout
        deadline = watchdog.now() + seconds
        watchdog.wait(deadline)
        try:
            response = await opening
            if stream:
                late = watchdog.done()
                limit = None
                if response.status_code >= 300:  # an error answer is read whole: capped
                    limit = self.max_response_size
                    if declares_more(response, limit):
                        await response.aclose()
                        raise too_large(limit)
                response.stream = BoundedBody(
                    response.stream,
                    limit,
                    watchdog,
                    deadline=deadline,
                    first_byte=self.first_byte_timeout,
                    idle=self.idle_timeout,
                )
            else:
                try:
                    limit = self.max_response_size
                    if declares_more(response, limit):
                        raise too_large(limit)
                    if isinstance(response, AiohttpResponse) and response.declared:
                        try:  # one read: its length is known
                            await response.read_declared()
                        except httpx.TransportError as exc:
                            raise cut_short(exc) from exc
                    else:
                        response.stream = BoundedBody(response.stream, limit)
                        await response.aread()
                finally:
                    await response.aclose()
                late = watchdog.done()
                watchdog.close()
        except asyncio.CancelledError:
            watchdog.close()
            if watchdog.done():
                raise self._late(stream, seconds) from None
            raise
        except BaseException as exc:
            watchdog.close()
            if isinstance(exc, httpx.TimeoutException):
                raise UpstreamTimeout(
                    f"The upstream did not answer in time ({type(exc).__name__})."
                ) from exc
            if isinstance(exc, httpx.TransportError):
                log.warning("upstream %s failed: %s: %s", self.base_url, type(exc).__name__, exc)
                raise UpstreamError(
                    f"Could not reach the upstream ({type(exc).__name__})."
                ) from exc
            raise
        if late:  # the cancellation was swallowed below: late all the same
            watchdog.close()
            await response.aclose()
            raise self._late(stream, seconds)
        return response

    @staticmethod
    def _late(stream: bool, seconds: float) -> UpstreamTimeout:
        what = "start its answer" if stream else "answer"
        return UpstreamTimeout(
            f"The upstream did not {what} within {seconds:g} s.", code="upstream_timeout"
        )

    async def post(
        self,
        path: str,
        content: bytes,
        *,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
        error: ErrorMapper = upstream_error,
    ) -> httpx.Response:
        """POST ``content``; a non-2xx answer is read, closed and raised as ``error(...)``.

        ``error(status, body, headers)`` turns the upstream's error answer into the
        :class:`~plugbay.PlugbayError` to raise (vendor adapters pass their own mapping).
        """
        engine = self._fast()
        if engine is not None:
            opening = self._open_post(engine, path, content, headers)
        else:
            opening = self._send_httpx(self.build("POST", path, content=content, headers=headers))
        response = await self._bounded(opening, stream)
        if response.status_code >= 300:
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            raise _answered(error, response)
        return response

    async def aclose(self) -> None:
        if self._traced is not None:
            await self._traced.aclose()
        if self._client is not None:
            await self._client.aclose()  # closes the transport too
        else:
            await self._transport.aclose()


def _answered(error: ErrorMapper, response: httpx.Response) -> PlugbayError:
    """``error(...)`` for an upstream's error answer, marked with its status and the wait it
    asked for (what the router retries by), whatever mapping the adapter gave."""
    exc = error(response.status_code, response.content, response.headers)
    exc.upstream_status = response.status_code
    headers = response.headers
    if "retry-after" in headers or "retry-after-ms" in headers:
        from plugbay._router.retry import retry_after

        exc.retry_delay = retry_after(headers)
    return exc
