"""The adapter-specific keys of a ``[[providers]]`` entry, for both adapter types."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["AnthropicOptions", "TranslationOptions", "VertexAnthropicOptions"]


def _budgets() -> dict[str, int]:
    return {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}


class TranslationOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What both adapter types share: how OpenAI requests become Messages API requests."""

    default_max_tokens: int = 4096
    """``max_tokens`` when the request sets neither ``max_completion_tokens`` nor
    ``max_tokens`` (the Messages API requires it)."""
    structured_output: Literal["tool", "native"] = "tool"
    """How ``response_format`` is honoured: ``tool`` forces a tool whose input schema is the
    requested schema (every Claude model); ``native`` sends ``output_config.format``
    (models with structured outputs)."""
    thinking_budgets: dict[str, int] = msgspec.field(default_factory=_budgets)
    """``budget_tokens`` of extended thinking for each OpenAI ``reasoning_effort``."""
    beta: list[str] = msgspec.field(default_factory=list)
    """Values sent in the ``anthropic-beta`` header."""


class AnthropicOptions(TranslationOptions, kw_only=True, forbid_unknown_fields=True):
    """Type ``anthropic``: the Messages API at ``base_url`` (``https://api.anthropic.com``)."""

    anthropic_version: str = "2023-06-01"
    """Sent as the ``anthropic-version`` header."""
    messages_path: str = "/v1/messages"


class VertexAnthropicOptions(TranslationOptions, kw_only=True, forbid_unknown_fields=True):
    """Type ``vertex-anthropic``: Claude on Vertex AI.

    ``api_key`` is sent as an OAuth bearer token (``gcloud auth print-access-token``);
    ``base_url`` defaults to the region's endpoint.
    """

    project: str
    """The Google Cloud project id."""
    region: str = "global"
    """The Vertex AI location (``global``, ``us-east5``, ``europe-west1``...)."""
    anthropic_version: str = "vertex-2023-10-16"
    """Sent as ``anthropic_version`` in the request body."""
