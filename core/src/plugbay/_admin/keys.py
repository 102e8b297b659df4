"""Virtual keys in the registry: ``pb-`` + 32 random bytes, stored only as a keyed hash."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from msgspec import UNSET

from plugbay._admin.shapes import DEFAULT_SCOPES, SCOPES, KeyCreate, KeyUpdate, KeyView, Page
from plugbay._auth import KEY_PREFIX, hash_key, new_key
from plugbay._errors import InvalidRequest, NotFound
from plugbay._registry import KeyRecord

if TYPE_CHECKING:
    from plugbay._registry import Registry


def parse_time(value: float | str | None, param: str) -> float | None:
    """Epoch seconds from a number or an ISO 8601 string (UTC unless it says otherwise)."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else float(value)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{param}: expected epoch seconds or an ISO 8601 time, got {value!r}", param=param
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


MAX_COUNT = 2**53 - 1
"""Largest limit the registry takes: exact in JSON's numbers and in SQLite's integers."""
MAX_USD = 1e15


def _check(field: str, value: Any) -> None:
    if value is None:
        return
    if field == "name" and not value.strip():
        raise InvalidRequest("name: must not be empty", param="name")
    if field in ("rpm", "tpm", "max_parallel"):
        if value < 1:
            raise InvalidRequest(f"{field}: must be at least 1", param=field)
        if value > MAX_COUNT:
            raise InvalidRequest(f"{field}: must be at most {MAX_COUNT}", param=field)
    if field in ("max_budget", "spend"):
        if value < 0:
            raise InvalidRequest(f"{field}: must not be negative", param=field)
        if value > MAX_USD:
            raise InvalidRequest(f"{field}: must be at most {MAX_USD:.0f}", param=field)
    if field == "scopes":
        unknown = sorted(set(value) - SCOPES)
        if unknown:
            raise InvalidRequest(
                f"scopes: unknown scope {unknown[0]!r} (known: {', '.join(sorted(SCOPES))})",
                param="scopes",
            )
    if field == "models" and any(not isinstance(m, str) or not m for m in value):
        raise InvalidRequest("models: names must be non-empty strings", param="models")


def _view(record: KeyRecord, key: str | None = None) -> KeyView:
    return KeyView(
        id=record.id,
        key=key,
        name=record.name,
        key_hint=record.hint,
        models=record.models,
        scopes=record.scopes,
        rpm=record.rpm,
        tpm=record.tpm,
        max_parallel=record.max_parallel,
        max_budget=record.max_budget,
        spend=record.spend,
        expires_at=record.expires_at,
        enabled=record.enabled,
        revoked=record.revoked_at is not None,
        revoked_at=record.revoked_at,
        metadata=record.metadata,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


async def create(registry: Registry, spec: KeyCreate) -> KeyView:
    for field in ("name", "models", "scopes", "rpm", "tpm", "max_parallel", "max_budget"):
        _check(field, getattr(spec, field))
    raw = new_key(KEY_PREFIX)
    record = KeyRecord(
        id="key_" + secrets.token_hex(8),
        name=spec.name,
        hash=hash_key(raw),
        hint=f"{KEY_PREFIX}...{raw[-4:]}",
        models=spec.models,
        scopes=sorted(set(spec.scopes)) if spec.scopes is not None else DEFAULT_SCOPES,
        rpm=spec.rpm,
        tpm=spec.tpm,
        max_parallel=spec.max_parallel,
        max_budget=spec.max_budget,
        expires_at=parse_time(spec.expires_at, "expires_at"),
        enabled=spec.enabled,
        metadata=spec.metadata or {},
    )
    return _view(await registry.keys.add(record), key=raw)


def _found(record: KeyRecord | None, key_id: str) -> KeyRecord:
    if record is None:
        raise NotFound(f"No key with id {key_id!r}.", param="id")
    return record


async def get(registry: Registry, key_id: str) -> KeyView:
    return _view(_found(await registry.keys.get(key_id), key_id))


async def list_(registry: Registry, limit: int, after: str | None) -> Page:
    total, found = await registry.keys.page(limit, after)
    views = [_view(record) for record in found]
    has_more = len(views) > limit
    views = views[:limit]
    return Page(data=views, total=total, has_more=has_more, last_id=views[-1].id if views else None)


async def update(registry: Registry, key_id: str, spec: KeyUpdate) -> KeyView:
    sets: dict[str, Any] = {}
    for field in KeyUpdate.__struct_fields__:
        value = getattr(spec, field)
        if value is UNSET:
            continue
        _check(field, value)
        if field == "scopes":
            value = sorted(set(value))
        elif field == "expires_at":
            value = parse_time(value, "expires_at")
        sets[field] = value
    if not sets:
        return await get(registry, key_id)
    return _view(_found(await registry.keys.update(key_id, sets), key_id))


async def revoke(registry: Registry, key_id: str) -> KeyView:
    """Revoke for good: the key stops working in every worker within a second."""
    return _view(_found(await registry.keys.revoke(key_id), key_id))
