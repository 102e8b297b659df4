"""Usage records, written in batches off the request path.

Every finished request becomes one row. Rows wait in memory and are written every second, or
as soon as :data:`BATCH` are waiting, in one transaction that also adds their cost to each
key's spend (so budgets are enforced against what was recorded). A failed write keeps the
rows for the next attempt; shutdown writes everything that is left. After each write, the
registered objects with ``usage_recorded`` (the rate limiter's budgets) learn which requests
are now in the registry and each key's spend there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from plugbay.types import RecordedUsage

if TYPE_CHECKING:
    from plugbay.gateway import Gateway
    from plugbay.types import FinishedRequest

__all__ = ["UsageRecorder"]

log = logging.getLogger("plugbay.usage")

BATCH = 500
INTERVAL = 1.0
SOFT_LIMIT = 100_000
"""Rows waiting beyond this are still kept (never dropped), with a warning."""

_INSERT = """INSERT INTO usage (ts, request_id, endpoint, key_id, model, provider, upstream_model,
    prompt_tokens, completion_tokens, cached_tokens, usage_estimated, latency_ms, ttft_ms,
    status, error_code, stream, cache_status, cost_usd)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


class UsageRecorder:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._rows: list[tuple[Any, ...]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._warned = False

    def record(self, event: FinishedRequest, estimated: bool) -> None:
        """Queue one finished request (sync and cheap: called on every request)."""
        usage = event.usage
        self._rows.append(
            (
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
                None
                if event.time_to_first_chunk_ms is None
                else round(event.time_to_first_chunk_ms, 3),
                event.status,
                event.error_code,
                int(event.stream),
                event.cache_status,
                event.cost_usd,
            )
        )
        pending = len(self._rows)
        if pending >= BATCH:
            self._wake.set()
            if pending >= SOFT_LIMIT and not self._warned:
                self._warned = True
                log.warning("%d usage records waiting: the database is not keeping up", pending)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="plugbay-usage-writer")

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing usage records failed; will retry")

    async def flush(self) -> None:
        async with self._lock:
            while self._rows:
                rows, self._rows = self._rows[: BATCH * 4], self._rows[BATCH * 4 :]
                try:
                    spent = await self._write(rows)
                except BaseException:
                    self._rows[:0] = rows  # keep them for the next attempt
                    raise
                if self.gateway.spend_watchers:  # the rows are in: never written twice
                    requests = tuple((row[1], row[3]) for row in rows)
                    await self.gateway.usage_recorded(RecordedUsage(requests=requests, spend=spent))
            self._warned = False

    async def _write(self, rows: list[tuple[Any, ...]]) -> dict[str, float]:
        """Insert ``rows`` and grow each key's spend; return the spends written (key id → USD)
        when something accounts spend in flight (the limiters' budgets), else nothing."""
        spend: defaultdict[str, float] = defaultdict(float)
        for row in rows:
            key_id, cost = row[3], row[-1]
            if key_id is not None and cost:
                spend[key_id] += cost
        store = self.gateway.store
        spent: dict[str, float] = {}
        async with store.transaction() as db:
            await db.executemany(_INSERT, rows)
            if spend:
                now = time.time()
                await db.executemany(
                    "UPDATE keys SET spend = spend + ?, changed_at = ? WHERE id = ?",
                    [(amount, now, key_id) for key_id, amount in spend.items()],
                )
                if self.gateway.spend_watchers:
                    ids = list(spend)
                    for start in range(0, len(ids), 500):
                        chunk = ids[start : start + 500]
                        marks = ",".join("?" * len(chunk))
                        sql = f"SELECT id, spend FROM keys WHERE id IN ({marks})"
                        async with db.execute(sql, chunk) as cursor:
                            spent.update((row[0], row[1]) for row in await cursor.fetchall())
        return spent

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for attempt in range(5):  # shutdown: every record must land
            try:
                await self.flush()
                return
            except Exception:
                log.exception("writing usage records at shutdown failed (attempt %d)", attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))
        log.error("%d usage records could not be written", len(self._rows))
