"""Server-sent events: framing, splitting a byte stream into events, and the relay loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from plugbay._errors import PlugbayError, UpstreamError, UpstreamTimeout
from plugbay._settings import DEFAULT_MAX_RESPONSE_SIZE
from plugbay.wire._answers import too_large

if TYPE_CHECKING:
    import httpx

__all__ = ["DONE", "SSEBuffer", "Translator", "encode_event", "event_data", "relay"]

DONE = b"data: [DONE]\n\n"
_encode = msgspec.json.Encoder().encode


def encode_event(payload: Any) -> bytes:
    """One SSE ``data:`` event holding ``payload`` as JSON."""
    return b"data: " + _encode(payload) + b"\n\n"


class SSEBuffer:
    """Splits a byte stream into whole SSE events, keeping an incomplete tail for later.

    Events come back without their blank-line terminator; ``\\r\\n`` line ends are
    normalised to ``\\n``. The tail is kept in pieces, joined once an event completes, so a
    long event costs its length, not its length squared; an incomplete event longer than
    ``limit`` bytes raises :func:`too_large` (an upstream that never ends an event is not
    buffered without bound).
    """

    __slots__ = ("_cr", "_limit", "_nl", "_parts", "_size")

    def __init__(self, limit: int = DEFAULT_MAX_RESPONSE_SIZE) -> None:
        self._parts: list[bytes] = []  # the incomplete event, normalised
        self._size = 0
        self._nl = False  # whether the parts end with \n (the junction may end an event)
        self._cr = False  # a \r held back from the last read: it may pair with a \n
        self._limit = limit

    def feed(self, chunk: bytes) -> list[bytes]:
        block = self.feed_block(chunk)
        if not block:
            return []
        events = block.split(b"\n\n")
        events.pop()
        return events

    def feed_block(self, chunk: bytes) -> bytes:
        """The whole events ``chunk`` completes, as one block with their terminators.

        Cheaper than :meth:`feed` when the events are relayed rather than inspected.
        """
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if chunk.endswith(b"\r"):  # a read may end between \r and \n
            chunk = chunk[:-1]
            self._cr = True
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        cut = chunk.rfind(b"\n\n") + 2
        parts = self._parts
        if cut < 2:
            if parts and self._nl and chunk.startswith(b"\n"):
                cut = 1  # the event ended across the two reads
            else:
                if chunk:
                    parts.append(chunk)
                    self._size += len(chunk)
                    self._nl = chunk.endswith(b"\n")
                    if self._size > self._limit:
                        raise too_large(self._limit, "stream event")
                return b""
        if parts:
            parts.append(chunk[:cut])
            block = b"".join(parts)
            parts.clear()
        else:
            block = chunk[:cut] if cut < len(chunk) else chunk
        rest = chunk[cut:]
        self._size = len(rest)
        self._nl = rest.endswith(b"\n")
        if rest:
            parts.append(rest)
            if self._size > self._limit:
                raise too_large(self._limit, "stream event")
        return block

    def flush(self) -> list[bytes]:
        tail = b"".join(self._parts) + (b"\r" if self._cr else b"")
        self._parts.clear()
        self._size, self._nl, self._cr = 0, False, False
        tail = tail.strip()
        return [tail] if tail else []


def event_data(event: bytes) -> bytes | None:
    """The ``data`` of one SSE event (its ``data:`` lines joined), or ``None`` if it has none
    (a comment, a ``retry:``)."""
    if event.startswith(b"data: ") and b"\n" not in event:  # what every upstream sends
        return event[6:]
    lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    return b"\n".join(line[1:] if line.startswith(b" ") else line for line in lines)


class Translator(Protocol):
    """What :func:`relay` drives: one upstream stream's events in, OpenAI events out.

    :meth:`feed` gets each event's ``data`` in order and appends the OpenAI events it makes
    to ``out``; it raises a :class:`~plugbay.PlugbayError` for an error event (after
    appending what came before it). :attr:`done` says the answer is complete (the rest of
    the upstream's stream is not read); :meth:`end` is called when the upstream's stream
    ended, to append the last events or raise for an answer cut short.
    """

    @property
    def done(self) -> bool: ...

    def feed(self, data: bytes, out: list[bytes]) -> None: ...

    def end(self, out: list[bytes]) -> None: ...


async def relay(
    response: httpx.Response, translator: Translator, limit: int = DEFAULT_MAX_RESPONSE_SIZE
) -> AsyncIterator[bytes]:
    """The OpenAI events ``translator`` makes of ``response``'s SSE events, one batch per
    network read.

    What was received before an error reaches the client before it: the events of a read
    that ends in an error event are yielded, then the error is raised (the core sends it as
    an error event). Timeouts and a broken connection are raised by the upstream client's
    body as they happen (504, 502); an httpx timeout or transport error from another body is
    mapped the same way here. ``limit`` caps one event (the provider's
    ``max_response_size``). Events without data (comments, ``retry:``) are skipped.
    """
    buffer = SSEBuffer(limit)
    out: list[bytes] = []
    try:
        async for read in response.aiter_bytes():
            for event in buffer.feed(read):
                data = event_data(event)
                if data:
                    translator.feed(data, out)
                    if translator.done:
                        break
            if out:
                yield b"".join(out)
                out.clear()
            if translator.done:
                return
        for event in buffer.flush():
            data = event_data(event)
            if data and not translator.done:
                translator.feed(data, out)
        if not translator.done:
            translator.end(out)
    except PlugbayError:
        if out:  # what came before the failure reaches the client first
            yield b"".join(out)
        raise
    except Exception as exc:
        error = _transport_error(exc)
        if error is None:
            raise
        if out:
            yield b"".join(out)
        raise error from exc
    if out:
        yield b"".join(out)


def _transport_error(exc: Exception) -> PlugbayError | None:
    """The error for an httpx failure the body raised itself (a response the upstream
    client's bounded body does not wrap: ``UpstreamClient.client``, a plugin's own client)."""
    import httpx  # loaded already: the response is an httpx one

    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"The upstream stream timed out ({type(exc).__name__}).")
    if isinstance(exc, httpx.TransportError):
        return UpstreamError(f"The upstream stream broke ({type(exc).__name__}).")
    return None
