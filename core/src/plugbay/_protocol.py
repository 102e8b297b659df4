"""uvicorn's httptools protocol, with deadlines for clients that send too slowly.

It also answers what the HTTP parser rejects (a bad ``Content-Length``, an unknown method, a
request line over httptools' limit, garbage) with a 400 in OpenAI's error shape instead of
uvicorn's plain-text "Invalid HTTP request received.".

uvicorn waits for a request's head and body as long as the client keeps the connection open:
twenty slowloris connections each dribbling a header byte every few seconds are held forever.
Here a connection is closed, with a 408 in OpenAI's error shape when nothing was answered yet,
when

- it sends nothing at all for ``timeout_keep_alive`` seconds after connecting (uvicorn arms that
  timer only between requests);
- a request's head (request line and headers) takes longer than ``header_timeout`` seconds;
- a request's body arrives slower than ``min_body_rate`` bytes a second after a grace of
  ``body_timeout`` seconds (the body may take ``body_timeout + size / min_body_rate``).

No timer is armed for a request whose head (and body) came in the read that began it, which
is nearly every request: the deadline is checked only once a read ends with a part missing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from plugbay._errors import error_body

__all__ = ["Deadlines", "GatewayProtocol"]

log = logging.getLogger("plugbay.http")

_IDLE, _HEAD, _BODY = 0, 1, 2


class Deadlines:
    """The limits a :class:`GatewayProtocol` enforces (kept on uvicorn's config)."""

    def __init__(self, header_timeout: float, body_timeout: float, min_body_rate: float) -> None:
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.min_body_rate = min_body_rate


def _timeout_response(message: str) -> bytes:
    body = error_body(message, "invalid_request_error", None, "request_timeout")
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body


_INVALID = error_body(
    "Invalid HTTP request received.", "invalid_request_error", None, "invalid_http_request"
)
_SLOW_HEAD = _timeout_response("The request headers took too long to arrive.")
_SLOW_BODY = _timeout_response("The request body arrived too slowly.")


class GatewayProtocol(HttpToolsProtocol):
    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._deadlines: Deadlines | None = getattr(config, "plugbay_deadlines", None)
        self._phase = _IDLE
        self._since = 0.0
        self._received = 0
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._deadlines is not None and self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if (
            self._phase != _IDLE
            and self._timer is None
            and self._deadlines is not None
            and not self.transport.is_closing()
        ):
            self._timer = self.loop.call_at(self._deadline(), self._check)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: "
            + str(len(_INVALID)).encode()
            + b"\r\n\r\n"
            + _INVALID
        )
        self.transport.close()

    # --- parser callbacks: where the request is ------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._since = _HEAD, self.loop.time()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._phase, self._since, self._received = _BODY, self.loop.time(), 0

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._received += len(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = _IDLE
        self._cancel()

    # --- deadlines -----------------------------------------------------------------------------

    def _deadline(self) -> float:
        limits = self._deadlines
        assert limits is not None
        if self._phase == _HEAD:
            return self._since + limits.header_timeout
        return self._since + limits.body_timeout + self._received / limits.min_body_rate

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        if self._phase == _IDLE or self.transport.is_closing():
            return
        if self._phase == _BODY and self.flow.read_paused:
            # The app is not reading (uvicorn paused the socket): not the client's fault.
            self._since, self._received = self.loop.time(), 0
        deadline = self._deadline()
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._check)
            return
        slow_head = self._phase == _HEAD
        log.debug(
            "closing a connection whose request %s too slowly", "head" if slow_head else "body"
        )
        cycle = self.cycle
        answered = False
        if not slow_head and cycle is not None:
            answered = cycle.response_started
            cycle.disconnected = True  # the app sees http.disconnect; its answer is dropped
            cycle.message_event.set()
        if not answered:
            self.transport.write(_SLOW_HEAD if slow_head else _SLOW_BODY)
        self.transport.close()


def configure(
    config: Any, header_timeout: float, body_timeout: float, min_body_rate: float
) -> None:
    """Serve ``config`` (a ``uvicorn.Config``) with :class:`GatewayProtocol`.

    The limits travel on the config itself, which ``--workers N`` pickles to every worker.
    """
    config.http = GatewayProtocol
    config.plugbay_deadlines = Deadlines(header_timeout, body_timeout, min_body_rate)
