"""``_asgi.unless_disconnected``: the upstream call is cancelled the moment the client leaves,
without a watcher task; otherwise it is left alone, and nothing of the watch remains."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plugbay import _asgi


class Client:
    """An ASGI ``receive`` in the manner of uvicorn's: it waits on an event until the client
    disconnects (or some other message is queued)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.messages: list[dict[str, Any]] = []
        self.calls = 0

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        while not self.messages:
            await self.event.wait()
            self.event.clear()
        return self.messages.pop(0)

    def send(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.event.set()

    def leave(self) -> None:
        self.send({"type": "http.disconnect"})

    @property
    def waiters(self) -> int:
        return len(self.event._waiters)  # type: ignore[attr-defined]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_the_call_is_cancelled_when_the_client_leaves() -> None:
    async def main() -> None:
        client = Client()
        cancelled = asyncio.Event()

        async def upstream() -> str:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            return "answer"

        loop = asyncio.get_running_loop()
        loop.call_later(0.05, client.leave)
        tasks = len(asyncio.all_tasks())
        started = loop.time()
        with pytest.raises(_asgi.ClientDisconnected):
            await _asgi.unless_disconnected(client.receive, upstream())
        assert cancelled.is_set()
        assert loop.time() - started < 5
        assert len(asyncio.all_tasks()) == tasks  # no watcher task
        current = asyncio.current_task()
        assert current is not None
        assert current.cancelling() == 0  # the cancellation was taken back
        await asyncio.sleep(0)  # and nothing is pending for later

    run(main())


def test_an_answered_call_leaves_nothing_behind() -> None:
    async def main() -> None:
        client = Client()

        async def upstream() -> str:
            await asyncio.sleep(0.01)
            return "answer"

        assert await _asgi.unless_disconnected(client.receive, upstream()) == "answer"
        assert client.calls == 1
        assert client.waiters == 0  # the pending receive() was thrown away
        client.leave()  # too late to matter
        await asyncio.sleep(0.01)
        assert client.messages == [{"type": "http.disconnect"}]  # nobody took it

    run(main())


def test_a_client_gone_before_the_call_starts() -> None:
    async def main() -> None:
        client = Client()
        client.leave()

        async def upstream() -> str:
            await asyncio.sleep(30)
            return "answer"

        with pytest.raises(_asgi.ClientDisconnected):
            await _asgi.unless_disconnected(client.receive, upstream())

    run(main())


def test_a_client_gone_before_a_call_that_would_not_wait() -> None:
    """The call is never started, and no cancellation is left pending for later awaits."""

    async def main() -> None:
        client = Client()
        client.leave()
        started = []

        async def upstream() -> str:
            started.append(True)
            return "instant"

        with pytest.raises(_asgi.ClientDisconnected):
            await _asgi.unless_disconnected(client.receive, upstream())
        assert started == []
        await asyncio.sleep(0.01)  # would raise CancelledError if one were pending

    run(main())


def test_other_messages_do_not_count_as_leaving() -> None:
    async def main() -> None:
        client = Client()

        async def upstream() -> str:
            client.send({"type": "http.request", "body": b"", "more_body": False})
            await asyncio.sleep(0.02)
            return "answer"

        assert await _asgi.unless_disconnected(client.receive, upstream()) == "answer"
        assert client.calls == 2

    run(main())


def test_leaving_as_the_call_is_woken_up_cancels_it() -> None:
    """The disconnect is seen after the call's result came but before it ran on: the
    cancellation lands in the call, never later in the request."""

    async def main() -> None:
        client = Client()
        done = asyncio.get_running_loop().create_future()

        async def upstream() -> str:
            await done
            return "answer"

        def leave_and_finish() -> None:
            client.leave()  # the watch runs first...
            done.set_result(None)  # ...then the call's task, woken with its result

        asyncio.get_running_loop().call_later(0.01, leave_and_finish)
        with pytest.raises(_asgi.ClientDisconnected):
            await _asgi.unless_disconnected(client.receive, upstream())
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0.01)  # no CancelledError left over

    run(main())


def test_a_call_that_swallows_the_cancellation_still_ends_in_a_disconnect() -> None:
    async def main() -> None:
        client = Client()

        async def upstream() -> str:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                return "swallowed"
            return "answer"

        asyncio.get_running_loop().call_later(0.01, client.leave)
        with pytest.raises(_asgi.ClientDisconnected):
            await _asgi.unless_disconnected(client.receive, upstream())
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0.01)

    run(main())


def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    async def main() -> None:
        client = Client()

        async def upstream() -> str:
            await asyncio.sleep(30)
            return "answer"

        async def request() -> str:
            return await _asgi.unless_disconnected(client.receive, upstream())

        task = asyncio.create_task(request())
        await asyncio.sleep(0.01)
        task.cancel()  # shutdown, say
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.waiters == 0

    run(main())


def test_a_receive_that_fails_stops_the_watch_not_the_call() -> None:
    async def main() -> None:
        async def broken() -> dict[str, Any]:
            raise RuntimeError("receive failed")

        async def upstream() -> str:
            await asyncio.sleep(0.01)
            return "answer"

        assert await _asgi.unless_disconnected(broken, upstream()) == "answer"

    run(main())
