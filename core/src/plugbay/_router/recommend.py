"""Model recommendations: the models a key may use, ranked by what this worker measured.

Pure functions over :class:`Candidate` values (a model, its tags and capabilities, its
deployments): the route handler builds them from the gateway, the tests from plain values.
Every measured figure is the router's own :class:`~plugbay._router.deployments.DeploymentStats`;
a model nobody called yet has no success rate (``None``), never a guessed one.

The score (higher first)::

    score = 1700 * success_rate + 10 * speed + cheapness + (5 if preferred)
    speed = 1 / (1 + seconds to the answer, streams: to the first chunk)
    cheapness = 1 / (1 + USD per million tokens (input + output) / 10); unknown price: 0

so the success rate decides first (a difference of one percentage point, 17, outweighs every
difference in speed, price and preference together, at most 16), then latency, then price; a
preferred provider or model gains five points (a lead in speed or price, never in success). Models
without measurements rank after every measured one (their score has no success or speed
part). Ties go by name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from plugbay._pricing import Price
    from plugbay._router.deployments import Deployment
    from plugbay.schemas import Capabilities

__all__ = ["Candidate", "RecommendRequest", "recommend"]

PREFERRED_BOOST = 5.0
_CAPABILITIES = ("chat", "embeddings", "tools", "vision", "streaming")


class RecommendRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The body of ``POST /v1/models/recommend``."""

    task: str | None = None
    """Matched against each model's ``tags`` and its capabilities (``chat``, ``tools``...)."""
    max_cost: Annotated[float, msgspec.Meta(ge=0)] | None = None
    """USD per million tokens, input plus output; a model with an unknown price is excluded."""
    min_success_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    """Measured models below it are excluded; unmeasured ones are kept (and say so)."""
    prefer_providers: list[str] = msgspec.field(default_factory=list)
    exclude_providers: list[str] = msgspec.field(default_factory=list)
    prefer_models: list[str] = msgspec.field(default_factory=list)
    exclude_models: list[str] = msgspec.field(default_factory=list)
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5


@dataclass(frozen=True)
class Candidate:
    """A model a key may use, as the ranking sees it."""

    model: str
    deployments: Sequence[Deployment]
    tags: Sequence[str] = ()
    capabilities: Capabilities | None = None


@dataclass
class _Figures:
    requests: int = 0
    successes: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    deployments: list[dict[str, Any]] = field(default_factory=list)

    def add(self, deployment: Deployment, now: float) -> None:
        stats = deployment.stats
        self.requests += stats.requests
        self.successes += stats.successes
        self.latency_sum += stats.latency_sum
        self.latency_count += stats.successes - stats.ttft_count
        self.ttft_sum += stats.ttft_sum
        self.ttft_count += stats.ttft_count
        latency_count = stats.successes - stats.ttft_count
        self.deployments.append(
            {
                "name": deployment.name,
                "provider": deployment.provider_name,
                "upstream_model": deployment.upstream_model,
                "requests": stats.requests,
                "success_rate": _ratio(stats.successes, stats.requests),
                "latency_ms_avg": _ms(stats.latency_sum, latency_count),
                "ttft_ms_avg": _ms(stats.ttft_sum, stats.ttft_count),
                "breaker": deployment.breaker.state(now),
                "cost_per_million": cost_per_million(deployment.price),
            }
        )

    @property
    def success_rate(self) -> float | None:
        return _ratio(self.successes, self.requests)

    @property
    def answer_seconds(self) -> float | None:
        """Mean time to the answer (streams: to the first chunk) over the successes."""
        count = self.latency_count + self.ttft_count
        return (self.latency_sum + self.ttft_sum) / count if count else None


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _ms(total: float, count: int) -> float | None:
    return round(total / count * 1e3, 3) if count else None


def cost_per_million(price: Price | None) -> float | None:
    """Input plus output USD per million tokens; ``None`` when either is unknown."""
    if price is None or price.input is None or price.output is None:
        return None
    return round(price.input + price.output, 6)


def _cheapest(deployments: Iterable[Deployment]) -> Price | None:
    best: tuple[float, Price] | None = None
    for deployment in deployments:
        cost = cost_per_million(deployment.price)
        if cost is not None and deployment.price is not None and (best is None or cost < best[0]):
            best = (cost, deployment.price)
    return best[1] if best else None


def _matches(candidate: Candidate, task: str) -> bool:
    wanted = task.strip().lower()
    if any(tag.lower() == wanted for tag in candidate.tags):
        return True
    capabilities = candidate.capabilities
    return (
        capabilities is not None
        and wanted in _CAPABILITIES
        and getattr(capabilities, wanted) is True
    )


def _reason(figures: _Figures, cost: float | None, preferred: bool, open_breakers: bool) -> str:
    rate = figures.success_rate
    if rate is None:
        said = "No measurements yet in this worker, so it ranks after measured models"
    else:
        said = f"{figures.successes} of {figures.requests} requests succeeded ({rate:.0%})"
        seconds = figures.answer_seconds
        if seconds is not None:
            said += f", answering in {seconds * 1e3:.1f} ms on average"
    said += "; price unknown" if cost is None else f"; {cost:g} USD per million tokens"
    if preferred:
        said += "; preferred"
    if open_breakers:
        said += "; every deployment's circuit breaker is open"
    return said + "."


def score(success_rate: float | None, seconds: float | None, cost: float | None,
          preferred: bool) -> float:  # fmt: skip
    """The documented score (see the module docstring), rounded to 6 places."""
    total = 0.0
    if success_rate is not None:
        total += 1700 * success_rate
        if seconds is not None:
            total += 10 / (1 + seconds)
    if cost is not None:
        total += 1 / (1 + cost / 10)
    if preferred:
        total += PREFERRED_BOOST
    return round(total, 6)


def recommend(
    candidates: Iterable[Candidate], query: RecommendRequest, now: float | None = None
) -> dict[str, Any]:
    """The ``/v1/models/recommend`` answer for ``candidates`` (the models a key may use)."""
    now = time.time() if now is None else now
    excluded: list[dict[str, Any]] = []
    ranked: list[tuple[bool, float, str, dict[str, Any]]] = []
    exclude_models, exclude_providers = set(query.exclude_models), set(query.exclude_providers)
    prefer_models, prefer_providers = set(query.prefer_models), set(query.prefer_providers)
    for candidate in sorted(candidates, key=lambda c: c.model):
        name = candidate.model

        def out(reason: str, model: str = name) -> None:
            excluded.append({"model": model, "reason": reason})

        if name in exclude_models:
            out("Excluded by `exclude_models`.")
            continue
        deployments = [d for d in candidate.deployments if d.provider_name not in exclude_providers]
        if not deployments:
            out("Every deployment is at a provider in `exclude_providers`.")
            continue
        if query.task is not None and not _matches(candidate, query.task):
            out(f"Neither its tags nor its capabilities match the task `{query.task}`.")
            continue
        price = _cheapest(deployments)
        cost = cost_per_million(price)
        if query.max_cost is not None:
            if cost is None:
                out("Its price is unknown, so `max_cost` cannot be met.")
                continue
            if cost > query.max_cost:
                out(f"It costs {cost:g} USD per million tokens, above `max_cost` "
                    f"({query.max_cost:g}).")  # fmt: skip
                continue
        figures = _Figures()
        for deployment in deployments:
            figures.add(deployment, now)
        rate = figures.success_rate
        minimum = query.min_success_rate
        if minimum is not None and rate is not None and rate < minimum:
            out(f"Its measured success rate {rate:.2%} over {figures.requests} requests "
                f"is below `min_success_rate` ({minimum:.2%}).")  # fmt: skip
            continue
        preferred = name in prefer_models or any(
            d.provider_name in prefer_providers for d in deployments
        )
        seconds = figures.answer_seconds
        value = score(rate, seconds, cost, preferred)
        open_breakers = all(d["breaker"] == "open" for d in figures.deployments)
        entry = {
            "model": name,
            "rank": 0,
            "score": value,
            "reason": _reason(figures, cost, preferred, open_breakers),
            "figures": {
                "requests": figures.requests,
                "success_rate": rate,
                "latency_ms_avg": _ms(figures.latency_sum, figures.latency_count),
                "ttft_ms_avg": _ms(figures.ttft_sum, figures.ttft_count),
                "price": None if price is None else msgspec.to_builtins(price),
                "cost_per_million": cost,
                "deployments": figures.deployments,
            },
            "excluded": False,
        }
        ranked.append((rate is None, -value, name, entry))
    ranked.sort(key=lambda item: item[:3])
    data = [entry for *_, entry in ranked[: query.limit]]
    for rank, entry in enumerate(data, 1):
        entry["rank"] = rank
    return {"object": "list", "data": data, "excluded": excluded}
