"""What ``/v1/models`` and ``/admin/providers`` say about a model: capabilities, context
window, prices and its provider's state. Nothing is guessed: unknown is ``None``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from plugbay._providers import BaseProvider
from plugbay.schemas import Capabilities, ModelObject, ModelPricing

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._problems import ProviderProblem
    from plugbay._protocols import Provider

__all__ = ["adapter_capabilities", "model_capabilities", "model_object", "provider_state"]

_FIELDS = Capabilities.__struct_fields__


def adapter_capabilities(provider: Provider) -> Capabilities:
    """What the provider declares (a ``capabilities`` attribute), else what a
    :class:`BaseProvider` subclass's overridden methods show."""
    declared = getattr(provider, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    if not isinstance(provider, BaseProvider):
        return Capabilities()
    kind = type(provider)
    return Capabilities(
        chat=kind.chat is not BaseProvider.chat,
        streaming=kind.chat_stream is not BaseProvider.chat_stream,
        embeddings=kind.embeddings is not BaseProvider.embeddings,
    )


def model_capabilities(base: Capabilities, override: Capabilities | None) -> Capabilities:
    """``base`` with every field ``override`` sets replaced."""
    if override is None:
        return base
    changes = {f: v for f in _FIELDS if (v := getattr(override, f)) is not None}
    return msgspec.structs.replace(base, **changes) if changes else base


def provider_state(gateway: Gateway, name: str, problem: ProviderProblem | None = None) -> str:
    """``healthy`` or ``degraded`` (measured), or why it cannot serve."""
    if problem is None:
        problem = gateway.unavailable.get(name)
    if problem is not None:
        return "undecryptable" if problem.undecryptable else "misconfigured"
    return gateway.stats.state(name)


def model_object(gateway: Gateway, name: str) -> ModelObject:
    """The ``/v1/models`` entry of a model the gateway routes."""
    route = gateway.routes[name]
    record = gateway.snapshot.models.get(name)
    created = int(record.created_at) if record is not None else 0
    settings = record.settings if record is not None else None
    capabilities = model_capabilities(
        adapter_capabilities(route.provider), settings.capabilities if settings else None
    )
    price = gateway.price_of(name)
    pricing = None
    if price is not None:
        pricing = ModelPricing(
            input=price.input,
            output=price.output,
            cached_input=price.cached_input if price.cached_input is not None else price.input,
        )
    return ModelObject(
        id=name,
        created=created,
        owned_by=route.provider_name,
        capabilities=capabilities,
        context_window=settings.context_window if settings else None,
        pricing=pricing,
        status=gateway.stats.state(route.provider_name),
    )


def provider_models(gateway: Gateway, provider: str) -> list[dict[str, Any]]:
    """The models ``provider`` serves, as ``/v1/models`` shows them."""
    names = sorted(
        n
        for n, r in gateway.routes.items()
        if any(d.provider_name == provider for d in r.deployments)
    )
    return [msgspec.to_builtins(model_object(gateway, n)) for n in names]
