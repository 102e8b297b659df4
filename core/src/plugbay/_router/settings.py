"""The routing settings: ``[router]`` and the routing keys of a ``[[models]]`` entry."""

from __future__ import annotations

from typing import Annotated

import msgspec

from plugbay._pricing import Price
from plugbay._router.breaker import BreakerConfig
from plugbay._router.health import HealthCheck

__all__ = ["DeploymentSettings", "RetrySettings", "RouterSettings"]

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]


class DeploymentSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One place a public model is served: a provider and its name for the model."""

    provider: str
    """The provider serving it."""
    model: str | None = None
    """The provider's name for the model; defaults to the entry's ``upstream_model`` or name."""
    name: str | None = None
    """How headers, usage records and ``/health/detailed`` name it; defaults to
    ``provider/model``. Its circuit breaker is keyed by it."""
    weight: Positive = 1.0
    """Its share of traffic under the ``weighted`` strategy (and within a priority group)."""
    priority: int = 0
    """Lower first under the ``priority`` strategy; equal priorities in config order."""
    rpm: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Requests a minute it is sent, per worker; at the cap it is skipped."""
    tpm: Annotated[int, msgspec.Meta(gt=0)] | None = None
    """Tokens a minute (prompt and completion) it is sent, per worker; at the cap it is skipped."""
    timeout: Positive | None = None
    """Seconds an attempt here may take (a stream: until its first chunk); then the next one."""
    price: Price | None = None
    """USD per million tokens here; overrides the model's price."""


class RetrySettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How a request is retried when an attempt fails in a way worth retrying."""

    attempts: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Attempts in all (across deployments) before the last error goes to the client;
    ``None``: one at each deployment (failover, no second try at the same one)."""
    backoff: NonNegative = 0.25
    """Seconds before the second attempt at one deployment, doubling after, with full jitter."""
    max_backoff: NonNegative = 4.0
    """The longest wait between two attempts at one deployment (an upstream's
    ``Retry-After`` is honoured beyond it, within ``deadline``)."""
    max_wait: NonNegative = 5.0
    """The longest the gateway waits out an upstream's ``Retry-After`` when no other
    deployment can take the request; a longer one goes back to the client, ``Retry-After``
    and all (its SDK retries then)."""
    deadline: Positive = 60.0
    """Seconds from the first attempt after which no other attempt starts."""


class RouterSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The ``[router]`` table."""

    enabled: bool = True
    """``false`` sends every request to its model's first deployment: no retries, breakers,
    fallbacks or routing headers (what plugbay did before it routed; the bench's baseline
    for the router's cost)."""
    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    """Retries for every model without its own ``retry``."""
    breaker: BreakerConfig = msgspec.field(default_factory=BreakerConfig)
    """The circuit breaker of every deployment, and where its state is kept."""
    break_single: bool = False
    """Whether a model with one deployment answers 503 at once while that deployment's
    breaker is open. By default it keeps sending to its only upstream (there is nowhere else
    to go; the client's own retries decide) and the breaker just records."""
    pin_header: str = "x-provider"
    """The request header naming the provider a client wants (keys with the ``pin``
    scope, or without scope restrictions); other clients' header is ignored."""
    health_checks: dict[str, HealthCheck] = msgspec.field(default_factory=dict)
    """Active health checks by provider name (``[router.health_checks.<provider>]``): a
    cheap request every ``interval`` seconds, feeding that provider's breakers."""
