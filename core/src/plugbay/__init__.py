"""plugbay: a plugin-driven, OpenAI-compatible LLM gateway.

The public surface for plugin authors: the hook marker, the protocols their objects
implement, the request/response types and the errors they raise.

Every plugin imports this module for :data:`hookimpl`, and so does every process that merely
lists plugins, so importing it costs next to nothing: everything but the marker is imported on
first use (PEP 562). ``from plugbay import BaseProvider`` works as usual.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

import pluggy

hookimpl = pluggy.HookimplMarker("plugbay")
"""Marker for plugin hook implementations: ``@hookimpl def plugbay_register_adapters(...)``."""

__version__ = "0.1.0"

if TYPE_CHECKING:
    from plugbay._auth import KEY_PREFIX, hash_key
    from plugbay._errors import (
        AuthenticationError,
        InvalidRequest,
        ModelNotFound,
        NotFound,
        PayloadTooLarge,
        PermissionDenied,
        PlugbayError,
        ProviderError,
        RateLimited,
        ServiceUnavailable,
        UpstreamError,
        UpstreamTimeout,
    )
    from plugbay._pricing import Price, cost, default_output_limit
    from plugbay._protocols import (
        Authenticator,
        Cache,
        GatewayView,
        Lifecycle,
        Provider,
        RateLimiter,
    )
    from plugbay._providers import BaseProvider, ProviderContext
    from plugbay._registrars import (
        AdapterRegister,
        AuthenticatorRegister,
        BreakerStoreRegister,
        CacheRegister,
        PluginError,
        RateLimiterRegister,
        RouteRegister,
        StrategyRegister,
    )
    from plugbay._registry import KeyRecord, KeyStore, Registry
    from plugbay._registry.owners import MigrationRegister
    from plugbay._router.breaker import Breaker, BreakerConfig, BreakerStore, ErrorWindow
    from plugbay._router.deployments import Deployment, DeploymentStats
    from plugbay._router.strategies import Strategy
    from plugbay._settings import ConfigError, Settings
    from plugbay._types import (
        ChatRequest,
        ChatResponse,
        ChatStream,
        EmbeddingsRequest,
        EmbeddingsResponse,
        FinishedRequest,
        Principal,
        RecordedUsage,
        RequestContext,
    )
    from plugbay.schemas import Usage

# Where each lazily imported name lives; keep in step with the TYPE_CHECKING imports above
# (tests/core/test_import_time.py checks both against __all__).
_LAZY: dict[str, str] = {
    "AuthenticationError": "plugbay._errors",
    "InvalidRequest": "plugbay._errors",
    "ModelNotFound": "plugbay._errors",
    "NotFound": "plugbay._errors",
    "PayloadTooLarge": "plugbay._errors",
    "PermissionDenied": "plugbay._errors",
    "PlugbayError": "plugbay._errors",
    "ProviderError": "plugbay._errors",
    "RateLimited": "plugbay._errors",
    "ServiceUnavailable": "plugbay._errors",
    "UpstreamError": "plugbay._errors",
    "UpstreamTimeout": "plugbay._errors",
    "Authenticator": "plugbay._protocols",
    "Cache": "plugbay._protocols",
    "Provider": "plugbay._protocols",
    "RateLimiter": "plugbay._protocols",
    "GatewayView": "plugbay._protocols",
    "Lifecycle": "plugbay._protocols",
    "AdapterRegister": "plugbay._registrars",
    "AuthenticatorRegister": "plugbay._registrars",
    "CacheRegister": "plugbay._registrars",
    "PluginError": "plugbay._registrars",
    "RateLimiterRegister": "plugbay._registrars",
    "RouteRegister": "plugbay._registrars",
    "StrategyRegister": "plugbay._registrars",
    "BreakerStoreRegister": "plugbay._registrars",
    "Breaker": "plugbay._router.breaker",
    "BreakerConfig": "plugbay._router.breaker",
    "BreakerStore": "plugbay._router.breaker",
    "ErrorWindow": "plugbay._router.breaker",
    "Deployment": "plugbay._router.deployments",
    "DeploymentStats": "plugbay._router.deployments",
    "Strategy": "plugbay._router.strategies",
    "hash_key": "plugbay._auth",
    "BaseProvider": "plugbay._providers",
    "ProviderContext": "plugbay._providers",
    "ChatRequest": "plugbay._types",
    "ChatResponse": "plugbay._types",
    "ChatStream": "plugbay._types",
    "EmbeddingsRequest": "plugbay._types",
    "EmbeddingsResponse": "plugbay._types",
    "FinishedRequest": "plugbay._types",
    "Principal": "plugbay._types",
    "RequestContext": "plugbay._types",
    "RecordedUsage": "plugbay._types",
    "ConfigError": "plugbay._settings",
    "Settings": "plugbay._settings",
    "Price": "plugbay._pricing",
    "cost": "plugbay._pricing",
    "default_output_limit": "plugbay._pricing",
    "Usage": "plugbay.schemas",
    "KEY_PREFIX": "plugbay._auth",
    "KeyRecord": "plugbay._registry",
    "KeyStore": "plugbay._registry",
    "MigrationRegister": "plugbay._registry.owners",
    "Registry": "plugbay._registry",
}

__all__ = [
    "KEY_PREFIX",
    "AdapterRegister",
    "AuthenticationError",
    "Authenticator",
    "AuthenticatorRegister",
    "BaseProvider",
    "Breaker",
    "BreakerConfig",
    "BreakerStore",
    "BreakerStoreRegister",
    "Cache",
    "CacheRegister",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "ConfigError",
    "Deployment",
    "DeploymentStats",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "ErrorWindow",
    "FinishedRequest",
    "GatewayView",
    "InvalidRequest",
    "KeyRecord",
    "KeyStore",
    "Lifecycle",
    "MigrationRegister",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlugbayError",
    "PluginError",
    "Price",
    "Principal",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "RateLimited",
    "RateLimiter",
    "RateLimiterRegister",
    "RecordedUsage",
    "Registry",
    "RequestContext",
    "RouteRegister",
    "ServiceUnavailable",
    "Settings",
    "Strategy",
    "StrategyRegister",
    "UpstreamError",
    "UpstreamTimeout",
    "Usage",
    "cost",
    "default_output_limit",
    "hash_key",
    "hookimpl",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
