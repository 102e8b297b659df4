"""The built-in routing strategies, registered like a plugin's (``plugbay_register_strategies``).

A strategy orders a model's deployments for one request: the router tries the first one
that is not open, capped or waiting out a ``Retry-After``, then the next. Models with one
deployment never ask their strategy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from plugbay._router.deployments import Deployment

__all__ = ["BUILTIN", "Strategy"]


@runtime_checkable
class Strategy(Protocol):
    """Orders deployments, most preferred first. One object per model (it may keep state).

    ``order`` is called on the request path: keep it cheap, do no I/O.

    .. versionadded:: 0.2
    """

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        """``deployments`` (never empty), in the order to try them; ``now`` is ``time.time()``."""
        ...


def _weighted_pick(deployments: Sequence[Deployment], rand: float) -> int:
    total = 0.0
    for deployment in deployments:
        total += deployment.weight
    point = rand * total
    for index, deployment in enumerate(deployments):
        point -= deployment.weight
        if point < 0:
            return index
    return len(deployments) - 1


def _weighted_order(deployments: Sequence[Deployment]) -> list[Deployment]:
    """One drawn by weight first, then the others by weight (heaviest next)."""
    first = _weighted_pick(deployments, random.random())
    rest = [d for i, d in enumerate(deployments) if i != first]
    rest.sort(key=lambda d: -d.weight)
    return [deployments[first], *rest]


class Priority:
    """Ordered failover: the lowest ``priority`` first; equal priorities in config order."""

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        return sorted(deployments, key=lambda d: d.priority)  # stable: config order kept


class Weighted:
    """Random by weight; on failure, the heaviest of the others next."""

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        return _weighted_order(deployments)


class LeastBusy:
    """Fewest requests in flight in this worker first (ties: the configured order)."""

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        return sorted(deployments, key=lambda d: d.stats.in_flight)


class Latency:
    """Power of two choices over a peak-EWMA of latency (streams: time to first chunk).

    Two deployments are drawn at random; each one's cost is its decayed latency average
    times its requests in flight (plus one), and the two are ranked by a draw weighted by
    the inverse square of their costs: at equal costs each goes first half the time (no
    herding onto one of two alike deployments), at ten times the cost the slower one goes
    first about once in a hundred. An idle deployment's average decays, so one that
    recovered gets traffic again; one that slows down is seen at its first slow answer.
    A deployment never measured goes first (its cost is 0).
    """

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        def cost(d: Deployment) -> float:
            return d.stats.latency_now(now) * (d.stats.in_flight + 1)

        if len(deployments) == 2:
            a, b = deployments
        else:
            a, b = random.sample(list(deployments), 2)
        ca, cb = cost(a), cost(b)
        if ca == 0.0 or cb == 0.0:
            a_first = ca < cb or (ca == cb and random.random() < 0.5)
        else:
            a_first = random.random() < cb * cb / (ca * ca + cb * cb)
        first, second = (a, b) if a_first else (b, a)
        rest = sorted((d for d in deployments if d is not a and d is not b), key=cost)
        return [first, second, *rest]


class Cost:
    """The cheapest first, by input plus output price per million tokens; unknown prices
    last."""

    def order(self, deployments: Sequence[Deployment], now: float) -> Sequence[Deployment]:
        def price(d: Deployment) -> float:
            p = d.price
            if p is None or p.input is None or p.output is None:
                return float("inf")
            return p.input + p.output

        return sorted(deployments, key=price)


BUILTIN: dict[str, type[Strategy]] = {
    "priority": Priority,
    "weighted": Weighted,
    "least-busy": LeastBusy,
    "latency": Latency,
    "cost": Cost,
}
"""The strategies core registers (``trylast``: a plugin may replace one, with a warning)."""
