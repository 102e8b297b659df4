"""Deployments as the router sees them: where to send a request, and how it went lately.

A :class:`Deployment` is rebuilt when the registry changes; its :class:`DeploymentStats`
(in flight, latency, errors) and its breaker are kept by name across rebuilds, so a reload
forgets nothing the router learnt. Every figure is this worker's.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plugbay._pricing import Price
    from plugbay._protocols import Provider
    from plugbay._router.breaker import Breaker

__all__ = ["DECAY_SECONDS", "Deployment", "DeploymentStats"]

DECAY_SECONDS = 1.0
"""The latency average's time constant: a sample counts half after ~0.7 s, and a
deployment that got no traffic looks faster as time passes, so a recovered one is tried
again (and jumps back up at once if it is still slow: the average is a peak average)."""

_MINUTE = 60.0


class DeploymentStats:
    """One deployment's figures in this worker: what strategies and ``/health/detailed``
    read. Latencies are seconds; ``latency`` is the peak-EWMA of the time to the answer
    (streams: to the first chunk)."""

    __slots__ = (
        "_minute",
        "_minute_requests",
        "_minute_tokens",
        "_previous_requests",
        "_previous_tokens",
        "consecutive_errors",
        "errors",
        "in_flight",
        "latency",
        "latency_sum",
        "requests",
        "successes",
        "ttft_count",
        "ttft_sum",
        "updated",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.requests = 0
        self.successes = 0
        self.errors = 0
        self.consecutive_errors = 0
        self.latency = 0.0
        self.updated = 0.0
        self.latency_sum = 0.0
        self.ttft_sum = 0.0
        self.ttft_count = 0
        self._minute = 0
        self._minute_requests = self._previous_requests = 0
        self._minute_tokens = self._previous_tokens = 0

    # --- what strategies read --------------------------------------------------------------

    def latency_now(self, now: float) -> float:
        """The latency average decayed for the time since its last sample."""
        if not self.updated:
            return 0.0
        return self.latency * math.exp(-(now - self.updated) / DECAY_SECONDS)

    # --- what the router writes ------------------------------------------------------------

    def observe(self, seconds: float, now: float) -> None:
        """A sample: a slower one is taken at once (peak), a faster one is averaged in with
        the weight the time since the last sample left the average."""
        if seconds >= self.latency or not self.updated:
            self.latency = seconds
        else:
            weight = math.exp((self.updated - now) / DECAY_SECONDS)
            self.latency = self.latency * weight + seconds * (1 - weight)
        self.updated = now

    def succeeded(self, seconds: float, now: float, stream: bool) -> None:
        self.requests += 1
        self.successes += 1
        self.consecutive_errors = 0
        self.observe(seconds, now)
        if stream:
            self.ttft_count += 1
            self.ttft_sum += seconds
        else:
            self.latency_sum += seconds

    def failed(self, seconds: float, now: float) -> None:
        self.requests += 1
        self.errors += 1
        self.consecutive_errors += 1
        self.observe(seconds, now)  # a failure that took long is slow too

    # --- per-minute caps -------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        minute = int(now // _MINUTE)
        if minute != self._minute:
            if minute == self._minute + 1:
                self._previous_requests, self._previous_tokens = (
                    self._minute_requests,
                    self._minute_tokens,
                )
            else:
                self._previous_requests = self._previous_tokens = 0
            self._minute, self._minute_requests, self._minute_tokens = minute, 0, 0

    def per_minute(self, now: float) -> tuple[float, float]:
        """Requests and tokens over the last minute (the previous minute weighted by how
        much of it the sliding window still covers)."""
        self._roll(now)
        share = 1.0 - (now % _MINUTE) / _MINUTE
        return (
            self._minute_requests + self._previous_requests * share,
            self._minute_tokens + self._previous_tokens * share,
        )

    def count_request(self, now: float) -> None:
        self._roll(now)
        self._minute_requests += 1

    def count_tokens(self, tokens: int, now: float) -> None:
        self._roll(now)
        self._minute_tokens += tokens

    def view(self, now: float) -> dict[str, Any]:
        def mean(total: float, count: int) -> float | None:
            return round(total / count * 1e3, 3) if count else None

        latency_count = self.successes - self.ttft_count
        return {
            "in_flight": self.in_flight,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.errors / self.requests, 4) if self.requests else None,
            "consecutive_errors": self.consecutive_errors,
            "latency_ms_avg": mean(self.latency_sum, latency_count),
            "ttft_ms_avg": mean(self.ttft_sum, self.ttft_count),
            "latency_ms_ewma": round(self.latency_now(now) * 1e3, 3) if self.updated else None,
        }


class Deployment:
    """A public model's deployment: its provider object, upstream model, routing figures.

    Public (``plugbay.Deployment``) so that a strategy plugin can read it; strategies must
    treat it as read-only.

    :ivar name: how it is named in headers and usage records (``provider/model``).
    :ivar provider_name: the provider's registry name.
    :ivar upstream_model: the provider's name for the model.
    :ivar weight: its weight (``weighted``; within a priority group).
    :ivar priority: lower first (``priority``).
    :ivar price: its price, or ``None`` when unknown.
    :ivar stats: this worker's figures for it (:attr:`DeploymentStats.in_flight`,
        :meth:`DeploymentStats.latency_now`...).
    """

    __slots__ = (
        "breaker",
        "name",
        "price",
        "priority",
        "provider",
        "provider_name",
        "rpm",
        "stats",
        "timeout",
        "tpm",
        "upstream_model",
        "weight",
    )

    def __init__(
        self,
        *,
        name: str,
        provider_name: str,
        upstream_model: str,
        provider: Provider,
        breaker: Breaker,
        stats: DeploymentStats,
        weight: float = 1.0,
        priority: int = 0,
        price: Price | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        timeout: float | None = None,
    ) -> None:
        self.name = name
        self.provider_name = provider_name
        self.upstream_model = upstream_model
        self.provider = provider
        self.breaker = breaker
        self.stats = stats
        self.weight = weight
        self.priority = priority
        self.price = price
        self.rpm, self.tpm, self.timeout = rpm, tpm, timeout

    def capped(self, now: float) -> bool:
        """Whether its per-minute caps are reached in this worker."""
        if self.rpm is None and self.tpm is None:
            return False
        requests, tokens = self.stats.per_minute(now)
        return (self.rpm is not None and requests >= self.rpm) or (
            self.tpm is not None and tokens >= self.tpm
        )

    def __repr__(self) -> str:
        return f"Deployment({self.name!r})"


def wall_clock() -> float:
    return time.time()
