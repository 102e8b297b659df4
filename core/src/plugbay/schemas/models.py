from __future__ import annotations

import msgspec


class Capabilities(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a model can do; ``None`` where nobody said.

    An adapter declares its own as a ``capabilities`` attribute (class or instance) of its
    provider; a ``[[models]]`` entry's ``capabilities`` table overrides it field by field.
    Without a declaration the gateway derives ``chat``, ``streaming`` and ``embeddings`` from
    the methods a :class:`plugbay.BaseProvider` subclass overrides.
    """

    chat: bool | None = None
    embeddings: bool | None = None
    tools: bool | None = None
    vision: bool | None = None
    streaming: bool | None = None


class ModelPricing(msgspec.Struct, kw_only=True):
    """USD per million tokens, as the gateway bills them (``null`` where unknown)."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None


class ModelObject(msgspec.Struct, kw_only=True):
    """OpenAI's model object; the fields after ``owned_by`` are plugbay extensions."""

    id: str
    object: str = "model"
    created: int
    owned_by: str
    capabilities: Capabilities | None = None
    context_window: int | None = None
    """Tokens, when the model's config says (never guessed)."""
    pricing: ModelPricing | None = None
    status: str | None = None
    """The provider's state: ``healthy`` or ``degraded`` (see ``/health/detailed``)."""


class ModelList(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[ModelObject]
