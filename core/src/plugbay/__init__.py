"""plugbay: a plugin-driven, OpenAI-compatible LLM gateway.

The public surface for plugin authors: the hook marker, the protocols their objects
implement, the request/response types and the errors they raise.
"""

from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("plugbay")
"""Marker for plugin hook implementations: ``@hookimpl def plugbay_register_adapters(...)``."""

from plugbay.errors import (  # noqa: E402
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
from plugbay.protocols import Authenticator, Cache, Provider, RateLimiter  # noqa: E402
from plugbay.providers import BaseProvider, ProviderContext  # noqa: E402
from plugbay.types import (  # noqa: E402
    ChatRequest,
    ChatResponse,
    ChatStream,
    EmbeddingsRequest,
    EmbeddingsResponse,
    FinishedRequest,
    Principal,
    RequestContext,
)

__version__ = "0.1.0"

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
