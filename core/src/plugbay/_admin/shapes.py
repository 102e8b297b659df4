"""msgspec Structs for the admin API's keys and usage (providers and models use the config
file's shapes, see :mod:`plugbay._settings`)."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

SCOPES = frozenset({"chat", "embeddings", "models", "admin", "pin"})
DEFAULT_SCOPES = ["chat", "embeddings", "models"]


class KeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    models: list[str] | None = None
    scopes: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_parallel: int | None = None
    max_budget: float | None = None
    expires_at: float | str | None = None
    metadata: dict[str, Any] | None = None
    enabled: bool = True


class KeyUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    models: list[str] | UnsetType | None = UNSET
    scopes: list[str] | UnsetType = UNSET
    rpm: int | UnsetType | None = UNSET
    tpm: int | UnsetType | None = UNSET
    max_parallel: int | UnsetType | None = UNSET
    max_budget: float | UnsetType | None = UNSET
    expires_at: float | str | UnsetType | None = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    spend: float | UnsetType = UNSET
    """Reset or correct the running spend (USD)."""


class KeyView(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    object: str = "api_key"
    key: str | None = None
    """The key itself: only in the answer that created it."""
    name: str
    key_hint: str
    models: list[str] | None
    scopes: list[str]
    rpm: int | None
    tpm: int | None
    max_parallel: int | None
    max_budget: float | None
    spend: float
    expires_at: float | None
    enabled: bool
    revoked: bool
    revoked_at: float | None
    metadata: dict[str, Any]
    created_at: float
    updated_at: float


class Page(msgspec.Struct, kw_only=True):
    object: str = "list"
    data: list[Any]
    total: int
    has_more: bool
    last_id: str | None


class UsageRow(msgspec.Struct, kw_only=True):
    key_id: str | UnsetType | None = UNSET
    model: str | UnsetType | None = UNSET
    provider: str | UnsetType | None = UNSET
    day: str | UnsetType = UNSET
    hour: str | UnsetType = UNSET
    requests: int
    errors: int
    error_rate: float
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd: float | None
    unpriced_requests: int
    """Successful requests whose cost is unknown (no price): not in ``cost_usd``."""


class UsageReport(msgspec.Struct, kw_only=True):
    object: str = "usage_report"
    start: float
    end: float
    group_by: list[str]
    data: list[UsageRow]
    totals: UsageRow
