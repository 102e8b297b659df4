"""The master key: a bearer credential accepted on every endpoint, with every scope.

It comes from ``PLUGBAY_MASTER_KEY`` or ``[auth] master_key``; otherwise ``serve`` creates
one on first start and the registry keeps only its hash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from plugbay import hookimpl
from plugbay.auth import hash_key, verify_key
from plugbay.types import Principal

if TYPE_CHECKING:
    from plugbay.gateway import Gateway
    from plugbay.settings import Settings

MASTER_KEY_HASH = "master_key_hash"


class MasterKey:
    def __init__(self, hashed: str | None) -> None:
        self.hashed = hashed
        self.principal = Principal(key_id="master", name="master key")

    async def start(self, gateway: Gateway) -> None:
        if self.hashed is None:  # no configured key: the one `serve` created, if any
            self.hashed = await gateway.store.get_meta(MASTER_KEY_HASH)

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if token is not None and self.hashed is not None and verify_key(token, self.hashed):
            return self.principal
        return None


@hookimpl(trylast=True)
def plugbay_register_authenticators(register: Callable[[Any], None], settings: Settings) -> None:
    key = settings.auth.master_key
    register(MasterKey(hash_key(key) if key else None))
