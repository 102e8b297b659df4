"""An httpx transport on aiohttp's connection pool.

Plugins program against httpx; measured on this gateway's hot path, aiohttp's client is
several times faster than httpx's own pool (see docs/performance.md). This transport keeps
the httpx API and swaps the engine: requests and responses stay ``httpx`` objects, failures
are raised as httpx exceptions.
"""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import httpx
from aiohttp.payload import TOO_LARGE_BYTES_BODY
from yarl import URL

__all__ = ["AiohttpTransport"]

_EMPTY_EXTENSIONS: dict[str, Any] = {}


class _ResponseStream(httpx.AsyncByteStream):
    # An async iterator rather than a generator: a body left unfinished (a stream the
    # adapter leaves at [DONE]) then costs no finaliser task when it is dropped.
    __slots__ = ("_content", "_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._content = response.content
        self._request = request

    def __aiter__(self) -> _ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._content.readany()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=self._request) from exc
        except aiohttp.ClientPayloadError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc), request=self._request) from exc
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        # Releasing a response that was not read to the end closes its connection.
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Send ``httpx.Request`` objects through one pooled ``aiohttp.ClientSession``.

    Timeouts come from the request's ``timeout`` extension (``connect``, ``read``), else
    from the defaults given here. Redirects are not followed; bodies are not decompressed
    here (httpx does that when a response is read).
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = 600.0,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._max_connections = max_connections
        self._default_timeouts = (connect_timeout, read_timeout)
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        spec = request.extensions.get("timeout")
        key = (spec.get("connect"), spec.get("read")) if spec else self._default_timeouts
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read = key
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
            self._timeouts[key] = timeout
        return timeout

    def _url(self, request: httpx.Request) -> URL:
        raw = str(request.url)
        url = self._urls.get(raw)
        if url is None:
            url = URL(raw, encoded=True)
            if len(self._urls) < 1024:
                self._urls[raw] = url
        return url

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        stream = request.stream
        data: Any = request.content if isinstance(stream, httpx.ByteStream) else stream
        if isinstance(data, bytes) and len(data) > TOO_LARGE_BYTES_BODY:
            # aiohttp warns (ResourceWarning) on large raw bytes: an image in base64 is
            # enough. A BytesIO keeps the Content-Length and is written in chunks.
            data = io.BytesIO(data)
        try:
            response = await session.request(
                request.method,
                self._url(request),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout(request),
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise httpx.ConnectTimeout(
                    str(exc) or "connect timed out", request=request
                ) from exc
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response, request),
            request=request,
            extensions=_EMPTY_EXTENSIONS,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
