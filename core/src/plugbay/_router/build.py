"""Routes built from the registry's models: each model's deployments, strategy and retries."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from plugbay._pricing import Price, default_price
from plugbay._router.deployments import Deployment
from plugbay._router.router import Route, Router
from plugbay._router.settings import DeploymentSettings

if TYPE_CHECKING:
    from plugbay._protocols import Provider
    from plugbay._router.strategies import Strategy
    from plugbay._settings import ModelSettings

__all__ = ["build_route", "deployment_name", "deployments_of"]

log = logging.getLogger("plugbay.router")


def deployments_of(model: ModelSettings) -> list[DeploymentSettings]:
    """The model's deployments; a model naming only a provider has one."""
    if model.deployments:
        return model.deployments
    return [DeploymentSettings(provider=model.provider, model=model.upstream)]


def deployment_name(model: ModelSettings, deployment: DeploymentSettings) -> str:
    return deployment.name or f"{deployment.provider}/{deployment.model or model.upstream}"


def build_route(
    router: Router,
    model: ModelSettings,
    providers: Mapping[str, Provider],
    strategies: Mapping[str, Callable[[], Strategy]],
    model_price: Price | None,
) -> Route | None:
    """The route for ``model`` over the deployments whose provider can serve (``providers``);
    ``None`` when none can. ``model_price`` is the model's own price (admin override, then
    config), which a deployment without a price of its own is charged at."""
    deployments = []
    for entry in deployments_of(model):
        provider = providers.get(entry.provider)
        if provider is None:
            continue
        upstream = entry.model or model.upstream
        name = deployment_name(model, entry)
        price = entry.price or model_price or default_price(upstream)
        deployments.append(
            Deployment(
                name=name,
                provider_name=entry.provider,
                upstream_model=upstream,
                provider=provider,
                breaker=router.breakers.breaker(name),
                stats=router.stats_of(name),
                weight=entry.weight,
                priority=entry.priority,
                price=price,
                rpm=entry.rpm,
                tpm=entry.tpm,
                timeout=entry.timeout,
            )
        )
    if not deployments:
        return None
    make = strategies.get(model.strategy)
    if make is None:  # the config check refuses this; a registry edit may not have
        log.error("model %r: unknown strategy %r; using priority", model.name, model.strategy)
        make = strategies["priority"]
    return Route(
        model.name,
        deployments,
        strategy=make(),
        retry=model.retry or router.settings.retry,
        fallbacks=model.fallbacks,
        context_window_fallbacks=model.context_window_fallbacks,
        content_filter_fallbacks=model.content_filter_fallbacks,
    )
