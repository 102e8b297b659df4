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
    from plugbay.errors import (
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
    from plugbay.protocols import Authenticator, Cache, Provider, RateLimiter
    from plugbay.providers import BaseProvider, ProviderContext
    from plugbay.types import (
        ChatRequest,
        ChatResponse,
        ChatStream,
        EmbeddingsRequest,
        EmbeddingsResponse,
        FinishedRequest,
        Principal,
        RequestContext,
    )

# Where each lazily imported name lives; keep in step with the TYPE_CHECKING imports above
# (tests/core/test_import_time.py checks both against __all__).
_LAZY: dict[str, str] = {
    "AuthenticationError": "plugbay.errors",
    "InvalidRequest": "plugbay.errors",
    "ModelNotFound": "plugbay.errors",
    "NotFound": "plugbay.errors",
    "PayloadTooLarge": "plugbay.errors",
    "PermissionDenied": "plugbay.errors",
    "PlugbayError": "plugbay.errors",
    "ProviderError": "plugbay.errors",
    "RateLimited": "plugbay.errors",
    "ServiceUnavailable": "plugbay.errors",
    "UpstreamError": "plugbay.errors",
    "UpstreamTimeout": "plugbay.errors",
    "Authenticator": "plugbay.protocols",
    "Cache": "plugbay.protocols",
    "Provider": "plugbay.protocols",
    "RateLimiter": "plugbay.protocols",
    "BaseProvider": "plugbay.providers",
    "ProviderContext": "plugbay.providers",
    "ChatRequest": "plugbay.types",
    "ChatResponse": "plugbay.types",
    "ChatStream": "plugbay.types",
    "EmbeddingsRequest": "plugbay.types",
    "EmbeddingsResponse": "plugbay.types",
    "FinishedRequest": "plugbay.types",
    "Principal": "plugbay.types",
    "RequestContext": "plugbay.types",
}

__all__ = [
    "AuthenticationError",
    "Authenticator",
    "BaseProvider",
    "Cache",
    "ChatRequest",
    "ChatResponse",
    "ChatStream",
    "EmbeddingsRequest",
    "EmbeddingsResponse",
    "FinishedRequest",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "PlugbayError",
    "Principal",
    "Provider",
    "ProviderContext",
    "ProviderError",
    "RateLimited",
    "RateLimiter",
    "RequestContext",
    "ServiceUnavailable",
    "UpstreamError",
    "UpstreamTimeout",
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
