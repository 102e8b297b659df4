from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType


class PromptTokensDetails(msgspec.Struct, omit_defaults=True):
    cached_tokens: int | None = None
    audio_tokens: int | None = None
    # Anthropic-style prompt-cache writes, reported by translating adapters.
    cache_creation_tokens: int | None = None


class CompletionTokensDetails(msgspec.Struct, omit_defaults=True):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(msgspec.Struct):
    """OpenAI's ``usage`` object, as upstreams report it and as usage records store it.

    The three counts are always encoded, zeros included (clients require them); the details
    only when there are some.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | UnsetType | None = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType | None = UNSET

    @property
    def cached_tokens(self) -> int:
        details = self.prompt_tokens_details
        return (details.cached_tokens or 0) if details else 0

    def to_openai(self, *, embeddings: bool = False) -> dict[str, Any]:
        """The ``usage`` member of an OpenAI answer: the one serialiser of usage.

        The three counts always, zeros included (the openai SDK requires them); a details
        object when the adapter set one, with ``cached_tokens`` (``reasoning_tokens``)
        always in it and the other counts when known. Prompt-cache writes are written as
        OpenAI names them, ``cache_write_tokens``. ``embeddings`` gives the embeddings
        answer's shape: ``prompt_tokens`` and ``total_tokens`` only.
        """
        if embeddings:
            return {"prompt_tokens": self.prompt_tokens, "total_tokens": self.total_tokens}
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        prompt = self.prompt_tokens_details
        if prompt:
            details: dict[str, Any] = {"cached_tokens": prompt.cached_tokens or 0}
            if prompt.audio_tokens is not None:
                details["audio_tokens"] = prompt.audio_tokens
            if prompt.cache_creation_tokens:
                details["cache_write_tokens"] = prompt.cache_creation_tokens
            out["prompt_tokens_details"] = details
        completion = self.completion_tokens_details
        if completion:
            counts: dict[str, Any] = {"reasoning_tokens": completion.reasoning_tokens or 0}
            for name in (
                "audio_tokens",
                "accepted_prediction_tokens",
                "rejected_prediction_tokens",
            ):
                value = getattr(completion, name)
                if value is not None:
                    counts[name] = value
            out["completion_tokens_details"] = counts
        return out
