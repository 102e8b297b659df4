"""One pooled upstream client per provider: the httpx API over the aiohttp transport."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from plugbay._aiohttp import AiohttpTransport
from plugbay.errors import PlugbayError, UpstreamError, UpstreamTimeout
from plugbay.wire import upstream_error

__all__ = ["ErrorMapper", "UpstreamClient"]

ErrorMapper = Callable[[int, bytes, httpx.Headers], PlugbayError]

log = logging.getLogger("plugbay.http")


class UpstreamClient:
    """A provider's connection pool, opened on first use and closed with the provider.

    :attr:`client` is a full ``httpx.AsyncClient`` for anything unusual; :meth:`send` is the
    hot path: it hands a prepared request straight to the transport (no cookie jar, auth flow
    or redirect handling) and turns connection failures and timeouts into 502 and 504.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = httpx.Headers(headers or {})
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._extensions = {"timeout": self._timeout.as_dict()}
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
        """Send ``request``; read the body unless ``stream``. Network failures raise 502/504."""
        try:
            response = await self._transport.handle_async_request(request)
            if not stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                f"The upstream did not answer in time ({type(exc).__name__})."
            ) from exc
        except httpx.TransportError as exc:
            log.warning("upstream %s failed: %s: %s", self.base_url, type(exc).__name__, exc)
            raise UpstreamError(f"Could not reach the upstream ({type(exc).__name__}).") from exc
        return response

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
