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
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from plugbay._aiohttp import AiohttpTransport
from plugbay._bounded import BoundedBody, Watchdog, declares_more
from plugbay._errors import PlugbayError, UpstreamError, UpstreamTimeout
from plugbay._settings import DEFAULT_MAX_RESPONSE_SIZE
from plugbay.wire import too_large, upstream_error

__all__ = ["DEFAULT_MAX_RESPONSE_SIZE", "ErrorMapper", "UpstreamClient"]

ErrorMapper = Callable[[int, bytes, httpx.Headers], PlugbayError]

log = logging.getLogger("plugbay.http")


class UpstreamClient:
    """A provider's connection pool, opened on first use and closed with the provider.

    :attr:`client` is a full ``httpx.AsyncClient`` for anything unusual (its timeouts are
    httpx's own: ``timeout`` per read); :meth:`send` is the hot path: it hands a prepared
    request straight to the transport (no cookie jar, auth flow or redirect handling) and
    bounds the call.

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
        self._client: httpx.AsyncClient | None = None
        self._urls: dict[str, httpx.URL] = {}

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

    async def send(self, request: httpx.Request, *, stream: bool = False) -> httpx.Response:
        """Send ``request``; read the body unless ``stream``.

        Without ``stream`` the whole call must end within ``timeout`` and the body must fit
        ``max_response_size``. With ``stream`` the headers and the first body byte must
        arrive within ``first_byte_timeout``, and iterating the body raises
        :class:`~plugbay.UpstreamTimeout` after ``idle_timeout`` of silence; a non-2xx
        answer's body is capped as a whole one is. Network failures raise 502, time 504.
        """
        watchdog = Watchdog()
        seconds = self.first_byte_timeout if stream else self.timeout
        deadline = watchdog.now() + seconds
        watchdog.wait(deadline)
        try:
            response = await self._transport.handle_async_request(request)
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
        response = await self.send(
            self.build("POST", path, content=content, headers=headers), stream=stream
        )
        if response.status_code >= 300:
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            raise error(response.status_code, response.content, response.headers)
        return response

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()  # closes the transport too
        else:
            await self._transport.aclose()
