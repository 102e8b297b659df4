"""plugbay-anthropic: the ``anthropic`` and ``vertex-anthropic`` adapter types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import AdapterRegister


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    # imported here, not above: the adapter pulls in httpx, which listing plugins does not need
    from plugbay_anthropic.options import AnthropicOptions, VertexAnthropicOptions
    from plugbay_anthropic.provider import AnthropicProvider, VertexAnthropicProvider

    register.adapter("anthropic", AnthropicProvider, options=AnthropicOptions)
    register.adapter("vertex-anthropic", VertexAnthropicProvider, options=VertexAnthropicOptions)
