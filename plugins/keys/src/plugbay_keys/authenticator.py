"""Virtual keys, checked from memory on every request; the registry is read in the background.

Each worker keeps every key by its hash. When the registry changes (this worker's admin API,
or a commit from any other process, seen within 0.25 s), only the keys whose ``changed_at``
moved are read again (:meth:`plugbay.KeyStore.changed_since`): edits, revocations and spend
are live in every worker within a second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from plugbay import KEY_PREFIX, AuthenticationError, Principal, RateLimited, hash_key

if TYPE_CHECKING:
    from plugbay import GatewayView, KeyRecord

_SKEW = 5.0
"""Seconds of overlap when reading changed keys, for writers whose clocks disagree a little."""


class _Key:
    __slots__ = ("enabled", "expires_at", "principal", "revoked")

    def __init__(self, record: KeyRecord) -> None:
        models = record.models
        self.principal = Principal(
            key_id=record.id,
            name=record.name,
            models=None if models is None else tuple(models),
            scopes=frozenset(record.scopes),
            rpm=record.rpm,
            tpm=record.tpm,
            max_parallel=record.max_parallel,
            max_budget=record.max_budget,
            spend=record.spend,
            metadata=record.metadata,
        )
        self.enabled = record.enabled
        self.revoked = record.revoked_at is not None
        self.expires_at = record.expires_at


class KeyAuthenticator:
    """The :class:`plugbay.Authenticator` for ``pb-`` keys."""

    def __init__(self) -> None:
        self._keys: dict[str, _Key] = {}
        self._seen = 0.0

    async def start(self, gateway: GatewayView) -> None:
        await self._load(gateway, since=None)

    async def registry_changed(self, gateway: GatewayView) -> None:
        await self._load(gateway, since=self._seen - _SKEW)

    async def _load(self, gateway: GatewayView, since: float | None) -> None:
        records = await gateway.registry.keys.changed_since(since)
        keys = self._keys if since is not None else {}
        for record in records:
            keys[record.hash] = _Key(record)
            self._seen = max(self._seen, record.changed_at)
        self._keys = keys

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if token is None or not token.startswith(KEY_PREFIX):
            return None
        key = self._keys.get(hash_key(token))
        if key is None:
            return None  # unknown: the chain answers 401
        if key.revoked:
            raise AuthenticationError("This API key has been revoked.", code="key_revoked")
        if not key.enabled:
            raise AuthenticationError("This API key is disabled.", code="key_disabled")
        if key.expires_at is not None and key.expires_at <= time.time():
            raise AuthenticationError("This API key has expired.", code="key_expired")
        principal = key.principal
        budget = principal.max_budget
        if budget is not None and principal.spend >= budget:
            raise RateLimited(
                f"This key has used its budget (${principal.spend:.4f} of ${budget:.2f}).",
                code="budget_exceeded",
                headers={"x-should-retry": "false"},
            )
        return principal
