"""plugbay-anthropic: the ``anthropic`` and ``vertex-anthropic`` adapter types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl


@hookimpl
def plugbay_register_adapters(register: Callable[..., Any]) -> None:
    # imported here, not above: the adapter pulls in httpx, which listing plugins does not need
    from plugbay_anthropic.options import AnthropicOptions, VertexAnthropicOptions
    from plugbay_anthropic.provider import AnthropicProvider, VertexAnthropicProvider

    register("anthropic", AnthropicProvider, options=AnthropicOptions)
    register("vertex-anthropic", VertexAnthropicProvider, options=VertexAnthropicOptions)
