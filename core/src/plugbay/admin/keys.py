"""Virtual keys in the registry: ``pb-`` + 32 random bytes, stored only as a keyed hash."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec import UNSET

from plugbay.admin.shapes import DEFAULT_SCOPES, SCOPES, KeyCreate, KeyUpdate, KeyView, Page
from plugbay.auth import hash_key, new_key
from plugbay.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from plugbay.registry import Store

KEY_PREFIX = "pb-"
_encode = msgspec.json.Encoder().encode
_COLUMNS = (
    "id, name, hint, models, scopes, rpm, tpm, max_parallel, max_budget, spend, expires_at, "
    "enabled, revoked_at, metadata, created_at, updated_at"
)


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


def _check(field: str, value: Any) -> None:
    if value is None:
        return
    if field == "name" and not value.strip():
        raise InvalidRequest("name: must not be empty", param="name")
    if field in ("rpm", "tpm", "max_parallel") and value < 1:
        raise InvalidRequest(f"{field}: must be at least 1", param=field)
    if field in ("max_budget", "spend") and value < 0:
        raise InvalidRequest(f"{field}: must not be negative", param=field)
    if field == "scopes":
        unknown = sorted(set(value) - SCOPES)
        if unknown:
            raise InvalidRequest(
                f"scopes: unknown scope {unknown[0]!r} (known: {', '.join(sorted(SCOPES))})",
                param="scopes",
            )
    if field == "models" and any(not isinstance(m, str) or not m for m in value):
        raise InvalidRequest("models: names must be non-empty strings", param="models")


def _view(row: Any, key: str | None = None) -> KeyView:
    return KeyView(
        id=row["id"],
        key=key,
        name=row["name"],
        key_hint=row["hint"],
        models=msgspec.json.decode(row["models"]) if row["models"] is not None else None,
        scopes=msgspec.json.decode(row["scopes"]),
        rpm=row["rpm"],
        tpm=row["tpm"],
        max_parallel=row["max_parallel"],
        max_budget=row["max_budget"],
        spend=row["spend"],
        expires_at=row["expires_at"],
        enabled=bool(row["enabled"]),
        revoked=row["revoked_at"] is not None,
        revoked_at=row["revoked_at"],
        metadata=msgspec.json.decode(row["metadata"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create(store: Store, spec: KeyCreate) -> KeyView:
    for field in ("name", "models", "scopes", "rpm", "tpm", "max_parallel", "max_budget"):
        _check(field, getattr(spec, field))
    raw = new_key(KEY_PREFIX)
    key_id = "key_" + secrets.token_hex(8)
    now = time.time()
    scopes = sorted(set(spec.scopes)) if spec.scopes is not None else DEFAULT_SCOPES
    async with store.transaction() as db:
        await db.execute(
            f"""INSERT INTO keys ({_COLUMNS}, hash, changed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, NULL, ?, ?, ?, ?, ?)""",
            (
                key_id,
                spec.name,
                f"{KEY_PREFIX}...{raw[-4:]}",
                None if spec.models is None else _encode(spec.models),
                _encode(scopes),
                spec.rpm,
                spec.tpm,
                spec.max_parallel,
                spec.max_budget,
                parse_time(spec.expires_at, "expires_at"),
                int(spec.enabled),
                _encode(spec.metadata or {}),
                now,
                now,
                hash_key(raw),
                now,
            ),
        )
    view = await get(store, key_id)
    return msgspec.structs.replace(view, key=raw)


async def get(store: Store, key_id: str) -> KeyView:
    async with store.db.execute(f"SELECT {_COLUMNS} FROM keys WHERE id = ?", (key_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"No key with id {key_id!r}.", param="id")
    return _view(row)


async def list_(store: Store, limit: int, after: str | None) -> Page:
    db = store.db
    async with db.execute("SELECT COUNT(*) FROM keys") as cursor:
        total = (await cursor.fetchone() or (0,))[0]
    async with db.execute(
        f"SELECT {_COLUMNS} FROM keys WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit + 1)
    ) as cursor:
        rows = list(await cursor.fetchall())
    views = [_view(row) for row in rows]
    has_more = len(views) > limit
    views = views[:limit]
    return Page(data=views, total=total, has_more=has_more, last_id=views[-1].id if views else None)


async def update(store: Store, key_id: str, spec: KeyUpdate) -> KeyView:
    await get(store, key_id)
    sets: dict[str, Any] = {}
    for field in KeyUpdate.__struct_fields__:
        value = getattr(spec, field)
        if value is UNSET:
            continue
        _check(field, value)
        if field in ("models", "metadata"):
            value = None if value is None else _encode(value)
        elif field == "scopes":
            value = _encode(sorted(set(value)))
        elif field == "expires_at":
            value = parse_time(value, "expires_at")
        elif field == "enabled":
            value = int(value)
        sets[field] = value
    if sets:
        now = time.time()
        sets["updated_at"] = sets["changed_at"] = now
        assignments = ", ".join(f"{column} = ?" for column in sets)
        async with store.transaction() as db:
            await db.execute(
                f"UPDATE keys SET {assignments} WHERE id = ?", (*sets.values(), key_id)
            )
    return await get(store, key_id)


async def revoke(store: Store, key_id: str) -> KeyView:
    """Revoke for good: the key stops working in every worker within a second."""
    await get(store, key_id)
    now = time.time()
    async with store.transaction() as db:
        await db.execute(
            """UPDATE keys SET revoked_at = COALESCE(revoked_at, ?), updated_at = ?,
                               changed_at = ? WHERE id = ?""",
            (now, now, now, key_id),
        )
    return await get(store, key_id)
