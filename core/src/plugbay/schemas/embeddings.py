from __future__ import annotations

from typing import Any

import msgspec


class EmbeddingsParams(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The fields of an embeddings request the gateway knows; others pass through."""

    model: str
    input: str | list[Any]
    """A string, a list of strings, a token array or a list of token arrays."""
    encoding_format: str | None = None
    dimensions: int | None = None
    user: str | None = None

    @property
    def inputs(self) -> list[str] | list[list[int]]:
        """The input as a list: strings, or token arrays."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if value and isinstance(value[0], int):
            return [value]
        return value

    def input_error(self) -> str | None:
        """Why ``input`` is not one of the four shapes OpenAI accepts, or ``None``."""
        value = self.input
        if isinstance(value, str):
            return None if value else "`input` must not be empty."
        if not value:
            return "`input` must not be empty."
        first = value[0]
        if isinstance(first, str):
            ok = all(isinstance(item, str) and item for item in value)
        elif isinstance(first, int) and not isinstance(first, bool):
            ok = all(type(item) is int for item in value)
        elif isinstance(first, list):
            ok = all(
                isinstance(item, list) and item and all(type(t) is int for t in item)
                for item in value
            )
        else:
            ok = False
        return (
            None
            if ok
            else (
                "`input` must be a string, a list of non-empty strings, a token array "
                "or a list of token arrays."
            )
        )
