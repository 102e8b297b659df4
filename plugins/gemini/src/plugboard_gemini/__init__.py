"""plugboard-gemini: the ``gemini`` (Google AI Studio) and ``vertex`` (Vertex AI) adapter types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider


@hookimpl
def plugboard_register_adapters(register: Callable[..., Any]) -> None:
    register("gemini", GeminiProvider, options=GeminiOptions)
    register("vertex", VertexProvider, options=VertexOptions)
