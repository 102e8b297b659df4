"""plugbay-openai: the ``openai`` adapter type, for any OpenAI-compatible upstream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl

if TYPE_CHECKING:
    from plugbay import AdapterRegister


@hookimpl
def plugbay_register_adapters(register: AdapterRegister) -> None:
    # imported here, not above: the adapter pulls in httpx, which listing plugins does not need
    from plugbay_openai.provider import OpenAIOptions, OpenAIProvider

    register.adapter("openai", OpenAIProvider, options=OpenAIOptions)
