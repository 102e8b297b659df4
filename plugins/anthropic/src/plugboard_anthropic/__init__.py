"""plugboard-anthropic: the ``anthropic`` and ``vertex-anthropic`` adapter types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard_anthropic.options import AnthropicOptions, VertexAnthropicOptions
from plugboard_anthropic.provider import AnthropicProvider, VertexAnthropicProvider


@hookimpl
def plugboard_register_adapters(register: Callable[..., Any]) -> None:
    register("anthropic", AnthropicProvider, options=AnthropicOptions)
    register("vertex-anthropic", VertexAnthropicProvider, options=VertexAnthropicOptions)
