"""What the registry hands out: typed, decoded records, the same whatever the backend."""

from __future__ import annotations

from typing import Any

import msgspec

from plugbay._pricing import Price
from plugbay._settings import ModelSettings, ProviderSettings

__all__ = ["KeyRecord", "ModelRecord", "ProviderRecord", "Snapshot"]


class ProviderRecord(msgspec.Struct, frozen=True):
    name: str
    type: str
    settings: ProviderSettings
    secret: bytes | None
    source: str
    created_at: float
    updated_at: float


class ModelRecord(msgspec.Struct, frozen=True):
    name: str
    provider: str
    upstream_model: str
    settings: ModelSettings
    source: str
    created_at: float
    updated_at: float


class Snapshot(msgspec.Struct, frozen=True):
    providers: dict[str, ProviderRecord]
    models: dict[str, ModelRecord]
    prices: dict[str, Price] = {}
    """Price overrides made through the admin API, by public model name."""
    version: int = 0
    """``meta.registry_version`` when this snapshot was read."""


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A virtual key as the registry keeps it: never the key itself, only its hash.

    ``hash`` is :func:`plugbay.hash_key` of the key. ``models`` holds names and ``prefix*``
    patterns (``None``: every model); ``scopes`` the scopes it grants. ``spend`` (USD) grows
    with every usage batch written. ``changed_at`` moves with every write to the key, its
    spend included: :meth:`plugbay.KeyStore.changed_since` reads the keys that moved.
    """

    id: str
    name: str
    hash: str
    hint: str
    """The masked key shown to people: ``pb-...wxyz``."""
    models: list[str] | None = None
    scopes: list[str] = []
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    max_budget: float | None = None
    spend: float = 0.0
    expires_at: float | None = None
    enabled: bool = True
    revoked_at: float | None = None
    metadata: dict[str, Any] = {}
    created_at: float = 0.0
    updated_at: float = 0.0
    changed_at: float = 0.0
