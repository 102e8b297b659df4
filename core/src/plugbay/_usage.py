"""Usage records, written in batches off the request path.

Every finished request becomes one row. Rows wait in memory and are written every second, or
as soon as :data:`BATCH` are waiting, in one transaction that also adds their cost to each
key's spend (so budgets are enforced against what was recorded). A failed write (the registry
busy beyond its bound, see :mod:`plugbay._registry.writer`) keeps the rows for the next
attempt, and a cancelled caller never cancels a write under way; shutdown writes everything
that is left. After each write, the registered objects with ``usage_recorded`` (the rate
limiter's budgets) learn which requests are now in the registry and each key's spend there.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from functools import partial
from typing import TYPE_CHECKING, Any

from plugbay._registry import RegistryBusy
from plugbay._types import RecordedUsage

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._types import FinishedRequest

__all__ = ["UsageRecorder"]

log = logging.getLogger("plugbay.usage")

BATCH = 500
INTERVAL = 1.0
SOFT_LIMIT = 100_000
"""Rows waiting beyond this are still kept (never dropped), with a warning."""


class UsageRecorder:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._rows: list[tuple[FinishedRequest, bool]] = []  # waiting to be written
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._writing: set[asyncio.Task[dict[str, float]]] = set()
        self._stopping = False
        self._warned = False

    def record(self, event: FinishedRequest, estimated: bool) -> None:
        """Queue one finished request (sync and cheap: called on every request).

        The request path only appends; the row is made when it is written (:func:`_row`).
        """
        self._rows.append((event, estimated))
        pending = len(self._rows)
        if pending >= BATCH:
            self._wake.set()
            if pending >= SOFT_LIMIT and not self._warned:
                self._warned = True
                log.warning("%d usage records waiting: the database is not keeping up", pending)

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="plugbay-usage-writer")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except RegistryBusy as exc:
                log.warning("writing usage records: %s; will retry", exc.message)
            except Exception:
                log.exception("writing usage records failed; will retry")

    async def flush(self) -> None:
        async with self._lock:
            while self._rows:
                queued, self._rows = self._rows[: BATCH * 4], self._rows[BATCH * 4 :]
                rows = [_row(event, estimated) for event, estimated in queued]
                write = asyncio.create_task(self._write(rows))
                self._writing.add(write)
                write.add_done_callback(partial(self._settle, queued))
                spent = await asyncio.shield(write)  # cancelled, the caller leaves it going
                if self.gateway.spend_watchers:  # the rows are in: never written twice
                    requests = tuple((row[1], row[3]) for row in rows)
                    await self.gateway.usage_recorded(RecordedUsage(requests=requests, spend=spent))
            self._warned = False

    def _settle(
        self, queued: list[tuple[FinishedRequest, bool]], write: asyncio.Task[dict[str, float]]
    ) -> None:
        self._writing.discard(write)
        if write.cancelled() or write.exception() is not None:
            self._rows[:0] = queued  # keep them for the next attempt

    async def _write(self, rows: list[tuple[Any, ...]]) -> dict[str, float]:
        """Insert ``rows`` and grow each key's spend; return the spends written (key id → USD)
        when something accounts spend in flight (the limiters' budgets), else nothing."""
        spend: defaultdict[str, float] = defaultdict(float)
        for row in rows:
            key_id, cost = row[3], row[-1]
            if key_id is not None and cost:
                spend[key_id] += cost
        watched = bool(self.gateway.spend_watchers)
        return await self.gateway.store.usage.record(rows, spend, read_back=watched)

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping = True  # the loop ends after the write under way, if any
            self._wake.set()
            await self._task
            self._task = None
        if self._writing:  # flushes whose callers were cancelled
            await asyncio.wait(self._writing)
        for attempt in range(5):  # shutdown: every record must land
            try:
                await self.flush()
                return
            except Exception:
                log.exception("writing usage records at shutdown failed (attempt %d)", attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))
        log.error("%d usage records could not be written", len(self._rows))


def _row(event: FinishedRequest, estimated: bool) -> tuple[Any, ...]:
    """One usage row, in :data:`plugbay._registry.api.USAGE_COLUMNS` order."""
    usage = event.usage
    ttfc = event.time_to_first_chunk_ms
    return (
        event.started_at,
        event.request_id,
        event.endpoint,
        event.key_id,
        event.model,
        event.provider,
        event.upstream_model,
        None if usage is None else usage.prompt_tokens,
        None if usage is None else usage.completion_tokens,
        None if usage is None else usage.cached_tokens,
        int(estimated),
        round(event.latency_ms, 3),
        None if ttfc is None else round(ttfc, 3),
        event.status,
        event.error_code,
        int(event.stream),
        event.cache_status,
        event.deployment,
        event.attempts,
        event.cost_usd,
    )
