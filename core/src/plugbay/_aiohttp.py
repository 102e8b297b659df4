"""An httpx transport on aiohttp's connection pool, and the upstream client's fast path on it.

Plugins program against httpx; measured on this gateway's hot path, aiohttp's client is
several times faster than httpx's own pool (see docs/performance.md). This transport keeps
the httpx API and swaps the engine: requests and responses stay ``httpx`` objects, failures
are raised as httpx exceptions.

:class:`AiohttpResponse` is what the upstream client's fast path answers with: an
``httpx.Response`` read straight from aiohttp, whose headers and request are only built
when somebody reads them (the relay reads neither).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiohttp
import httpx
from aiohttp.payload import TOO_LARGE_BYTES_BODY
from yarl import URL

__all__ = ["AiohttpResponse", "AiohttpTransport", "map_error"]

_EMPTY_EXTENSIONS: dict[str, Any] = {}
Timeouts = tuple[float | None, float | None]


def map_error(exc: BaseException, request: httpx.Request | None, *, reading: bool) -> Exception:
    """The httpx exception an aiohttp failure stands for (``reading``: in the body)."""
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        if not reading and isinstance(exc, aiohttp.ConnectionTimeoutError):
            return httpx.ConnectTimeout(str(exc) or "connect timed out", request=request)
        return httpx.ReadTimeout(str(exc) or "read timed out", request=request)
    if reading:
        if isinstance(exc, aiohttp.ClientPayloadError):
            return httpx.RemoteProtocolError(str(exc), request=request)
        return httpx.ReadError(str(exc), request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(exc), request=request)
    return httpx.RemoteProtocolError(str(exc), request=request)


class _ResponseStream(httpx.AsyncByteStream):
    # An async iterator rather than a generator: a body left unfinished (a stream the
    # adapter leaves at [DONE]) then costs no finaliser task when it is dropped.
    __slots__ = ("_content", "_request", "_response")

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request | None) -> None:
        self._response = response
        self._content = response.content
        self._request = request

    def __aiter__(self) -> _ResponseStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._content.readany()
        except aiohttp.ClientError as exc:
            raise map_error(exc, self._request, reading=True) from exc
        except TimeoutError as exc:
            raise map_error(exc, self._request, reading=True) from exc
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        # Releasing a response that was not read to the end closes its connection.
        self._response.release()


class AiohttpResponse(httpx.Response):
    """An ``httpx.Response`` answered straight from aiohttp.

    Everything httpx offers works (``headers``, ``request``, ``aiter_bytes``, ``aread``,
    ``raise_for_status``...), but ``headers`` is only parsed, and the ``httpx.Request`` only
    built (by ``make_request``), when read. A body without a ``Content-Encoding`` is handed
    out as aiohttp reads it; an encoded one goes through httpx's decoders.
    """

    def __init__(
        self,
        native: aiohttp.ClientResponse,
        request: httpx.Request | None = None,
        make_request: Callable[[], httpx.Request] | None = None,
    ) -> None:
        # httpx.Response.__init__ is skipped on purpose: it parses the headers and wraps the
        # stream, which is the cost this class exists to avoid. These are its attributes.
        self.native = native
        self.status_code = native.status
        self._headers: httpx.Headers | None = None
        self._request = request
        self._make_request = make_request
        self.next_request = None
        self.extensions = {}
        self.history = []
        self.is_closed = False
        self.is_stream_consumed = False
        self.default_encoding = "utf-8"
        self._num_bytes_downloaded = 0
        self.stream = _ResponseStream(native, request)
        encoding = native.headers.get("Content-Encoding")
        self.plain = encoding is None or encoding.lower() == "identity"

    @property
    def headers(self) -> httpx.Headers:
        if self._headers is None:
            self._headers = httpx.Headers(self.native.raw_headers)
        return self._headers

    @headers.setter
    def headers(self, value: httpx.Headers) -> None:
        self._headers = value

    @property
    def request(self) -> httpx.Request:
        if self._request is None and self._make_request is not None:
            self._request = self._make_request()
        return super().request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value

    @property
    def declared(self) -> bool:
        """Whether the body is plain and of a declared length (then read in one go)."""
        return self.plain and self.native.content_length is not None

    def declares_more(self, limit: int) -> bool:
        length = self.native.content_length
        return length is not None and length > limit

    async def read_declared(self) -> bytes:
        """The whole body of an answer that declared its (acceptable) length, in one read."""
        self.is_stream_consumed = True
        try:
            self._content = await self.native.read()
        except aiohttp.ClientError as exc:
            raise map_error(exc, self._request, reading=True) from exc
        except TimeoutError as exc:
            raise map_error(exc, self._request, reading=True) from exc
        return self._content

    async def aread(self) -> bytes:
        if not hasattr(self, "_content"):
            if not self.plain:
                return await super().aread()
            self.is_stream_consumed = True
            assert isinstance(self.stream, httpx.AsyncByteStream)
            self._content = b"".join([chunk async for chunk in self.stream])
        return self._content

    async def aclose(self) -> None:
        # httpx's own enters a (generator-based) context manager: a tenth of a relay's
        # upstream-client cost, for an exception context nobody reads here.
        if not self.is_closed:
            self.is_closed = True
            assert isinstance(self.stream, httpx.AsyncByteStream)
            await self.stream.aclose()

    def aiter_bytes(self, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        if chunk_size is not None or not self.plain or hasattr(self, "_content"):
            return super().aiter_bytes(chunk_size)
        if self.is_stream_consumed:
            raise httpx.StreamConsumed()
        self.is_stream_consumed = True
        # The body itself, not a generator over it: no frame per chunk, nothing to finalise.
        assert isinstance(self.stream, httpx.AsyncByteStream)
        return aiter(self.stream)


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
        self._default_timeouts: Timeouts = (connect_timeout, read_timeout)
        self._keepalive = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}

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

    def timeout(self, key: Timeouts) -> aiohttp.ClientTimeout:
        """The aiohttp timeout for ``(connect, read)`` seconds, memoised."""
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read = key
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
            self._timeouts[key] = timeout
        return timeout

    def url(self, raw: str) -> URL:
        url = self._urls.get(raw)
        if url is None:
            url = URL(raw, encoded=True)
            if len(self._urls) < 1024:
                self._urls[raw] = url
        return url

    async def open(
        self,
        method: str,
        url: URL,
        headers: Sequence[tuple[str, str]],
        data: Any,
        limits: aiohttp.ClientTimeout,
        request: httpx.Request | None = None,
    ) -> aiohttp.ClientResponse:
        """Send a request; its answer once the headers are in. Failures are httpx's."""
        session = self._session or self._open()
        if isinstance(data, bytes) and len(data) > TOO_LARGE_BYTES_BODY:
            # aiohttp warns (ResourceWarning) on large raw bytes: an image in base64 is
            # enough. A BytesIO keeps the Content-Length and is written in chunks.
            data = io.BytesIO(data)
        try:
            return await session.request(
                method, url, headers=headers, data=data, allow_redirects=False, timeout=limits
            )
        except aiohttp.ClientError as exc:
            raise map_error(exc, request, reading=False) from exc
        except TimeoutError as exc:
            raise map_error(exc, request, reading=False) from exc

    async def open_request(self, request: httpx.Request) -> aiohttp.ClientResponse:
        spec = request.extensions.get("timeout")
        key = (spec.get("connect"), spec.get("read")) if spec else self._default_timeouts
        headers = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw
        ]
        stream = request.stream
        data: Any = request.content if isinstance(stream, httpx.ByteStream) else stream
        url = self.url(str(request.url))
        return await self.open(request.method, url, headers, data, self.timeout(key), request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.open_request(request)
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
