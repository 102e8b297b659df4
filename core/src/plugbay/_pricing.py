"""Prices, in USD per million tokens, and the cost of a request.

Where a model's price comes from, first match wins: an admin API override, the model's
``price`` in the config file, the shipped table below (by upstream model name, also with a
trailing date such as ``-2024-08-06`` removed). No price means the cost is recorded as null —
never 0, never NaN.

:data:`DEFAULT_OUTPUT_LIMITS` holds the most completion tokens well-known models produce for
one request (reasoning included), found the same way: budgets reserve that much for a request
that sets no ``max_tokens``.
"""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

import msgspec

from plugbay.schemas import Usage

_T = TypeVar("_T")

__all__ = [
    "DEFAULT_OUTPUT_LIMITS",
    "DEFAULT_PRICES",
    "Price",
    "cost",
    "default_output_limit",
    "default_price",
]


USD = Annotated[float, msgspec.Meta(ge=0, le=1e9)]
"""A price: never negative, never infinite (TOML can say ``inf``)."""


class Price(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    input: USD | None = None
    """USD per million prompt tokens."""
    output: USD | None = None
    """USD per million completion tokens."""
    cached_input: USD | None = None
    """USD per million cached prompt tokens (defaults to ``input``)."""

    @property
    def complete(self) -> bool:
        return self.input is not None and self.output is not None


def _p(input: float, output: float, cached_input: float | None = None) -> Price:
    return Price(input=input, output=output, cached_input=cached_input)


# Public list prices (USD / 1M tokens) of well-known models, as published by their vendors.
DEFAULT_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-4o": _p(2.50, 10.00, 1.25),
    "gpt-4o-mini": _p(0.15, 0.60, 0.075),
    "gpt-4.1": _p(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _p(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _p(0.10, 0.40, 0.025),
    "gpt-5": _p(1.25, 10.00, 0.125),
    "gpt-5-mini": _p(0.25, 2.00, 0.025),
    "gpt-5-nano": _p(0.05, 0.40, 0.005),
    "o1": _p(15.00, 60.00, 7.50),
    "o3": _p(2.00, 8.00, 0.50),
    "o3-mini": _p(1.10, 4.40, 0.55),
    "o4-mini": _p(1.10, 4.40, 0.275),
    "gpt-3.5-turbo": _p(0.50, 1.50),
    "text-embedding-3-small": _p(0.02, 0.0),
    "text-embedding-3-large": _p(0.13, 0.0),
    "text-embedding-ada-002": _p(0.10, 0.0),
    # Anthropic (cached_input = cache reads)
    "claude-3-5-haiku": _p(0.80, 4.00, 0.08),
    "claude-3-5-sonnet": _p(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": _p(3.00, 15.00, 0.30),
    "claude-sonnet-4": _p(3.00, 15.00, 0.30),
    "claude-sonnet-4-5": _p(3.00, 15.00, 0.30),
    "claude-haiku-4-5": _p(1.00, 5.00, 0.10),
    "claude-opus-4": _p(15.00, 75.00, 1.50),
    "claude-opus-4-1": _p(15.00, 75.00, 1.50),
    "claude-3-haiku": _p(0.25, 1.25, 0.03),
    "claude-3-opus": _p(15.00, 75.00, 1.50),
    # Google
    "gemini-2.5-pro": _p(1.25, 10.00, 0.31),
    "gemini-2.5-flash": _p(0.30, 2.50, 0.075),
    "gemini-2.5-flash-lite": _p(0.10, 0.40, 0.025),
    "gemini-2.0-flash": _p(0.10, 0.40, 0.025),
    "gemini-2.0-flash-lite": _p(0.075, 0.30),
    "gemini-1.5-pro": _p(1.25, 5.00, 0.3125),
    "gemini-1.5-flash": _p(0.075, 0.30, 0.01875),
    "text-embedding-004": _p(0.0, 0.0),
    # Others served through OpenAI-compatible APIs
    "deepseek-chat": _p(0.27, 1.10, 0.07),
    "deepseek-reasoner": _p(0.55, 2.19, 0.14),
    "grok-3": _p(3.00, 15.00, 0.75),
    "grok-3-mini": _p(0.30, 0.50, 0.075),
}

# Output limits (completion tokens per request, reasoning included) as published by vendors;
# where a beta raises the limit (Claude 3.7 Sonnet: 128k), the higher figure.
DEFAULT_OUTPUT_LIMITS: dict[str, int] = {
    # OpenAI
    "gpt-4o": 16_384,
    "gpt-4o-mini": 16_384,
    "gpt-4.1": 32_768,
    "gpt-4.1-mini": 32_768,
    "gpt-4.1-nano": 32_768,
    "gpt-5": 128_000,
    "gpt-5-mini": 128_000,
    "gpt-5-nano": 128_000,
    "o1": 100_000,
    "o3": 100_000,
    "o3-mini": 100_000,
    "o4-mini": 100_000,
    "gpt-3.5-turbo": 4_096,
    "text-embedding-3-small": 0,
    "text-embedding-3-large": 0,
    "text-embedding-ada-002": 0,
    # Anthropic
    "claude-3-5-haiku": 8_192,
    "claude-3-5-sonnet": 8_192,
    "claude-3-7-sonnet": 128_000,
    "claude-sonnet-4": 64_000,
    "claude-sonnet-4-5": 64_000,
    "claude-haiku-4-5": 64_000,
    "claude-opus-4": 32_000,
    "claude-opus-4-1": 32_000,
    "claude-3-haiku": 4_096,
    "claude-3-opus": 4_096,
    # Google
    "gemini-2.5-pro": 65_536,
    "gemini-2.5-flash": 65_536,
    "gemini-2.5-flash-lite": 65_536,
    "gemini-2.0-flash": 8_192,
    "gemini-2.0-flash-lite": 8_192,
    "gemini-1.5-pro": 8_192,
    "gemini-1.5-flash": 8_192,
    "text-embedding-004": 0,
    # Others served through OpenAI-compatible APIs
    "deepseek-chat": 8_192,
    "deepseek-reasoner": 65_536,
    "grok-3": 131_072,
    "grok-3-mini": 131_072,
}

_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-latest)$")


def _shipped(table: dict[str, _T], model: str) -> _T | None:
    name = model.rsplit("/", 1)[-1].lower()
    found = table.get(name)
    if found is None:
        found = table.get(_DATE_SUFFIX.sub("", name))
    return found


def default_price(model: str) -> Price | None:
    """The shipped price of ``model`` (also without a vendor prefix or a date suffix)."""
    return _shipped(DEFAULT_PRICES, model)


def default_output_limit(model: str) -> int | None:
    """The shipped output limit of ``model`` (matched like :func:`default_price`)."""
    return _shipped(DEFAULT_OUTPUT_LIMITS, model)


def cost(usage: Usage | None, price: Price | None) -> float | None:
    """USD for ``usage`` at ``price``; ``None`` when either is unknown."""
    if usage is None or price is None or not price.complete:
        return None
    assert price.input is not None
    assert price.output is not None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_price = price.cached_input if price.cached_input is not None else price.input
    total = (
        (usage.prompt_tokens - cached) * price.input
        + cached * cached_price
        + usage.completion_tokens * price.output
    )
    return total / 1_000_000
