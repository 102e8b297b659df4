"""plugbay-gemini: the ``gemini`` (Google AI Studio) and ``vertex`` (Vertex AI) adapter types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl


@hookimpl
def plugbay_register_adapters(register: Callable[..., Any]) -> None:
    # imported here, not above: the adapters pull in httpx and aiohttp, which listing plugins
    # does not need
    from plugbay_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider

    register("gemini", GeminiProvider, options=GeminiOptions)
    register("vertex", VertexProvider, options=VertexOptions)
