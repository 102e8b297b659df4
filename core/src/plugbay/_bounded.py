"""Time and size bounds on an upstream call, for :class:`plugbay._http.UpstreamClient`.

``asyncio.timeout`` costs ~5 µs a use here (a context manager, a timer handle, a heap push
and a cancel); a stream waits once per network read, so :class:`Watchdog` keeps one timer
handle per call and re-arms it lazily: a wait costs a clock read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from plugbay._aiohttp import AiohttpResponse
from plugbay._errors import PlugbayError, UpstreamError, UpstreamTimeout
from plugbay.wire import too_large

__all__ = ["BoundedBody", "Watchdog", "cut_short", "declares_more"]


class Watchdog:
    """Cancels the task waiting on an upstream past the wait's deadline.

    Bracket each wait with :meth:`wait` and :meth:`done`; :meth:`done` says whether the wait
    ran out of time (and takes back the cancellation it caused). Between waits the timer
    goes quiet, so a slow consumer is never taken for a silent upstream.
    """

    __slots__ = ("_armed", "_cancelling", "_loop", "_task", "_timer", "_until", "fired")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0.0  # when the timer fires
        self._until: float | None = None  # the current wait's deadline; None between waits
        self._cancelling = 0
        self.fired = False

    def now(self) -> float:
        return self._loop.time()

    def wait(self, until: float) -> None:
        """A wait begins that must end by ``until`` (loop time)."""
        task = asyncio.current_task()
        assert task is not None
        self._task, self._until = task, until
        self._cancelling = task.cancelling()
        if self._timer is None or until < self._armed:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(until, self._expire)
            self._armed = until

    def done(self) -> bool:
        """The wait is over: whether it ran out of time."""
        self._until = None
        if not self.fired:
            return False
        self.fired = False
        assert self._task is not None
        # Only our own cancellation: one from elsewhere (shutdown...) stays a cancellation.
        return self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self._until = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        until = self._until
        if until is None:
            return  # between waits: the next one arms the timer again
        if self._loop.time() < until:  # the wait that armed it ended; this one has time
            self._timer = self._loop.call_at(until, self._expire)
            self._armed = until
            return
        self.fired = True
        assert self._task is not None
        self._task.cancel()


def declares_more(response: httpx.Response, limit: int) -> bool:
    """Whether ``response`` says (``Content-Length``) its body is over ``limit`` bytes."""
    if isinstance(response, AiohttpResponse):  # without parsing all its headers
        return response.declares_more(limit)
    length = response.headers.get("content-length")
    return length is not None and length.isdigit() and int(length) > limit


def cut_short(exc: httpx.TransportError) -> PlugbayError:
    """The error for a body whose reading failed with ``exc``."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"The upstream stopped sending ({type(exc).__name__}).")
    return UpstreamError(
        f"The upstream connection broke before the answer was complete ({type(exc).__name__})."
    )


class BoundedBody(httpx.AsyncByteStream):
    """An upstream answer's body, read within its call's bounds.

    ``limit`` caps its size. With a ``watchdog`` (a stream), the first read must end by
    ``deadline`` (loop time) and every later one within ``idle`` seconds; without one (a
    whole answer), the caller bounds the reading in all. A failure lets the connection go
    and raises a :class:`~plugbay.PlugbayError`: 504 for time, 502 for size or a broken
    connection. A plain async iterator, not a generator: a stream the adapter leaves at
    ``[DONE]`` leaves no suspended generator behind for the event loop to finalise.
    """

    __slots__ = (
        "_chunks",
        "_deadline",
        "_first_byte",
        "_idle",
        "_inner",
        "_limit",
        "_size",
        "_watchdog",
    )

    def __init__(
        self,
        inner: httpx.SyncByteStream | httpx.AsyncByteStream,
        limit: int | None,
        watchdog: Watchdog | None = None,
        *,
        deadline: float = 0.0,
        first_byte: float = 0.0,
        idle: float = 0.0,
    ) -> None:
        if not isinstance(inner, httpx.AsyncByteStream):
            raise TypeError("an async transport answered with a sync stream")
        self._inner = inner
        self._limit = limit
        self._watchdog = watchdog
        self._deadline: float | None = deadline
        self._first_byte = first_byte
        self._idle = idle
        self._size = 0
        self._chunks: AsyncIterator[bytes] | None = None

    def __aiter__(self) -> BoundedBody:
        if self._chunks is None:
            self._chunks = aiter(self._inner)
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        assert chunks is not None, "iterate the body with `async for`"
        watchdog = self._watchdog
        if watchdog is not None:
            first = self._deadline
            watchdog.wait(first if first is not None else watchdog.now() + self._idle)
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            if watchdog is not None:
                watchdog.close()
            raise
        except asyncio.CancelledError:
            if watchdog is not None and watchdog.done():
                raise await self._failed(self._timed_out()) from None
            raise
        except httpx.TransportError as exc:
            raise await self._failed(cut_short(exc)) from exc
        if watchdog is not None:
            if watchdog.done():  # the cancellation was swallowed below: late all the same
                raise await self._failed(self._timed_out())
            self._deadline = None
        if self._limit is not None:
            self._size += len(chunk)
            if self._size > self._limit:
                raise await self._failed(too_large(self._limit))
        return chunk

    def _timed_out(self) -> UpstreamTimeout:
        if self._deadline is not None:
            message = f"The upstream sent nothing within {self._first_byte:g} s."
        else:
            message = f"The upstream stream was silent for {self._idle:g} s."
        return UpstreamTimeout(message, code="upstream_timeout")

    async def _failed(self, error: PlugbayError) -> PlugbayError:
        """``error``, once the connection is let go (nothing more will be read from it)."""
        await self.aclose()
        return error

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.close()
        await self._inner.aclose()
