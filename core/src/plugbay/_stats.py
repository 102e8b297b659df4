"""Per-provider request statistics, kept in memory by each worker for ``/health/detailed``.

The request path pays two attribute increments when a request reaches its provider and a few
additions when it finishes: no lock (one event loop), no pluggy call, no database write.
Figures are this worker's since it started; every worker keeps its own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugbay._types import RequestContext

__all__ = ["DEGRADED_AFTER", "ProviderStats", "Stats"]

ADMITTED = "plugbay.admitted"
"""Set in ``ctx.extra`` by :meth:`plugbay._gateway.Gateway.admit` once the limiters agreed."""

DEGRADED_AFTER = 3
"""Consecutive failed requests after which a provider shows as ``degraded``."""


class ProviderStats:
    """One provider's counters. A request is an error when the gateway answered 5xx."""

    __slots__ = (
        "consecutive_errors",
        "errors",
        "in_flight",
        "latency_ms",
        "requests",
        "successes",
        "ttft_count",
        "ttft_ms",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.requests = 0
        self.errors = 0
        self.consecutive_errors = 0
        self.successes = 0
        self.latency_ms = 0.0
        """Sum over successful requests."""
        self.ttft_ms = 0.0
        """Sum over successful streams' time to first byte."""
        self.ttft_count = 0

    def finished(self, ctx: RequestContext) -> None:
        self.in_flight -= 1
        status = ctx.status
        # Refused by a rate limiter, answered from the cache, or the client left: the
        # provider was not asked, or had no chance to answer.
        if status == 499 or ctx.cache_status == "hit" or ADMITTED not in ctx.extra:
            return
        self.requests += 1
        if status >= 500:
            self.errors += 1
            self.consecutive_errors += 1
            return
        self.consecutive_errors = 0
        if status != 200:
            return
        self.successes += 1
        self.latency_ms += (time.perf_counter() - ctx.started) * 1e3
        first = ctx.first_chunk_at
        if ctx.stream and first is not None:
            self.ttft_count += 1
            self.ttft_ms += (first - ctx.started) * 1e3

    @property
    def state(self) -> str:
        return "degraded" if self.consecutive_errors >= DEGRADED_AFTER else "healthy"

    def view(self) -> dict[str, Any]:
        def mean(total: float, count: int) -> float | None:
            return round(total / count, 3) if count else None

        return {
            "state": self.state,
            "in_flight": self.in_flight,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 4) if self.requests else None,
            "consecutive_errors": self.consecutive_errors,
            "latency_ms_avg": mean(self.latency_ms, self.successes),
            "ttft_ms_avg": mean(self.ttft_ms, self.ttft_count),
        }


class Stats:
    """Every provider's :class:`ProviderStats`, by provider name (made on first use)."""

    __slots__ = ("providers", "started_at")

    def __init__(self) -> None:
        self.providers: dict[str, ProviderStats] = {}
        self.started_at = time.time()

    def of(self, provider: str) -> ProviderStats:
        stats = self.providers.get(provider)
        if stats is None:
            stats = self.providers[provider] = ProviderStats()
        return stats

    def state(self, provider: str) -> str:
        stats = self.providers.get(provider)
        return "healthy" if stats is None else stats.state
