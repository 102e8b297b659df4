"""plugbay-openai: the ``openai`` adapter type, for any OpenAI-compatible upstream."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import hookimpl
from plugbay_openai.provider import OpenAIOptions, OpenAIProvider


@hookimpl
def plugbay_register_adapters(register: Callable[..., Any]) -> None:
    register("openai", OpenAIProvider, options=OpenAIOptions)
