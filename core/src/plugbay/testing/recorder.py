"""A plugin that keeps every request-finished event, for tests to assert on.

Events arrive just *after* the client has its answer (the gateway tells listeners once the
response is sent), so wait for them: ``recorder.wait_for(2)`` or ``recorder.wait(request_id)``.
"""

from __future__ import annotations

import asyncio
import time

from plugbay import hookimpl
from plugbay._types import FinishedRequest

__all__ = ["EventRecorder"]


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[FinishedRequest] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    @hookimpl
    def plugbay_startup(self) -> None:
        self.loop = asyncio.get_running_loop()

    @hookimpl
    def plugbay_request_finished(self, event: FinishedRequest) -> None:
        self.events.append(event)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[FinishedRequest]:
        """The events, once there are at least ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(self.events) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} finished requests, saw {len(self.events)}")
            time.sleep(0.005)
        return self.events

    def wait(self, request_id: str, timeout: float = 30.0) -> FinishedRequest:
        """The event of the request answered with ``x-request-id: request_id``."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.request_id == request_id:
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"request {request_id} never finished")
            time.sleep(0.005)

    def tasks(self) -> int:
        """How many asyncio tasks the gateway's loop holds now (for leak checks)."""

        async def count() -> int:
            return len(asyncio.all_tasks())

        assert self.loop is not None, "the gateway has not started"
        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(30)
