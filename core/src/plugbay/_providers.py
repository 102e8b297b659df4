"""What adapters are built from: :class:`ProviderContext`, and :class:`BaseProvider`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from plugbay._errors import InvalidRequest

if TYPE_CHECKING:
    from collections.abc import Mapping

    from plugbay._http import UpstreamClient
    from plugbay._settings import ProviderSettings
    from plugbay._types import (
        ChatRequest,
        ChatResponse,
        ChatStream,
        EmbeddingsRequest,
        EmbeddingsResponse,
    )

__all__ = ["BaseProvider", "ProviderContext"]


class ProviderContext:
    """Everything a provider needs, given to its adapter's factory.

    :ivar settings: the ``[[providers]]`` entry (``api_key`` included; never log it).
    :ivar options: the entry's adapter-specific keys, validated against the adapter's
        ``options`` Struct when it registered one, else a dict.
    """

    def __init__(
        self,
        settings: ProviderSettings,
        options: Any,
        transport: str = "aiohttp",
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.options = options
        self.name = settings.name
        self.log = logging.getLogger(f"plugbay.provider.{settings.name}")
        self._http: UpstreamClient | None = None

    def http(
        self, default_base_url: str = "", headers: Mapping[str, str] | None = None
    ) -> UpstreamClient:
        """The provider's pooled upstream client (created on first call, closed by the core).

        ``settings.base_url`` wins over ``default_base_url``; ``settings.headers`` are added to
        ``headers``, which adapters use for credentials.
        """
        if self._http is None:
            # httpx and aiohttp load here, not when a plugin imports plugbay
            from plugbay._http import UpstreamClient

            settings = self.settings
            base_url = settings.base_url or default_base_url
            if not base_url:
                raise InvalidRequest(f"provider {settings.name!r} has no base_url")
            self._http = UpstreamClient(
                base_url,
                headers={**(headers or {}), **settings.headers},
                timeout=settings.timeout,
                connect_timeout=settings.connect_timeout,
                first_byte_timeout=settings.first_byte_timeout,
                idle_timeout=settings.idle_timeout,
                max_response_size=settings.max_response_size,
                max_connections=settings.max_connections,
                transport=self.transport,
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class BaseProvider:
    """A convenient base: endpoints an adapter does not override answer 400."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx

    def _unsupported(self, what: str) -> InvalidRequest:
        return InvalidRequest(
            f"Provider {self.ctx.name!r} does not support {what}.", code="unsupported_endpoint"
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise self._unsupported("chat completions")

    async def chat_stream(self, request: ChatRequest) -> ChatStream:
        raise self._unsupported("streaming chat completions")

    async def embeddings(self, request: EmbeddingsRequest) -> EmbeddingsResponse:
        raise self._unsupported("embeddings")

    async def aclose(self) -> None:
        await self.ctx.aclose()
