"""plugbay-openai: the ``openai`` adapter type, for any OpenAI-compatible upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl


@hookimpl
def plugbay_register_adapters(register: Callable[..., Any]) -> None:
    # imported here, not above: the adapter pulls in httpx, which listing plugins does not need
    from plugbay_openai.provider import OpenAIOptions, OpenAIProvider

    register("openai", OpenAIProvider, options=OpenAIOptions)
