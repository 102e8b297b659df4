"""plugbay-gemini: the ``gemini`` (Google AI Studio) and ``vertex`` (Vertex AI) adapter types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import AdapterRegister


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    # imported here, not above: the adapters pull in httpx and aiohttp, which listing plugins
    # does not need
    from plugbay_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider

    register.adapter("gemini", GeminiProvider, options=GeminiOptions)
    register.adapter("vertex", VertexProvider, options=VertexOptions)
