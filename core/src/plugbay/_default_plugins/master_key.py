"""The master key: a bearer credential accepted on every endpoint, with every scope.

It comes from ``PLUGBAY_MASTER_KEY`` or ``[auth] master_key``; otherwise ``serve`` creates
one on first start and the registry keeps only its hash. ``POST /admin/master-key/rotate``
(``plugbay keys rotate-master``) replaces a created one: the new key is shown once and the
old one stops working in every worker within a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post

from plugbay import hookimpl
from plugbay._auth import hash_key, new_key, verify_key
from plugbay._errors import Conflict, PermissionDenied
from plugbay._routes.common import json_response, require_admin
from plugbay._types import Principal

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._protocols import GatewayView
    from plugbay._registrars import AuthenticatorRegister, RouteRegister
    from plugbay._registry import Registry
    from plugbay._settings import Settings

MASTER_KEY_HASH = "master_key_hash"
MASTER_KEY_PREFIX = "pb-master-"


class MasterKey:
    def __init__(self, hashed: str | None) -> None:
        self.configured = hashed is not None
        self.hashed = hashed
        self.principal = Principal(key_id="master", name="master key")

    async def start(self, gateway: GatewayView) -> None:
        await self.registry_changed(gateway)

    async def registry_changed(self, gateway: GatewayView) -> None:
        if not self.configured:  # the one `serve` created (or a rotation made), if any
            self.hashed = await gateway.registry.get_meta(MASTER_KEY_HASH)

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if token is not None and self.hashed is not None and verify_key(token, self.hashed):
            return self.principal
        return None

    async def rotate(self, registry: Registry) -> str:
        """A new master key; the previous one stops working."""
        if self.configured:
            raise Conflict(
                "The master key is set by PLUGBAY_MASTER_KEY or [auth] master_key; "
                "change it there.",
                code="master_key_configured",
            )
        key = new_key(MASTER_KEY_PREFIX)
        hashed = hash_key(key)
        await registry.set_meta(MASTER_KEY_HASH, hashed)
        self.hashed = hashed
        return key


def _master_key(gateway: Gateway) -> MasterKey:
    for authenticator in gateway.auth.authenticators:
        if isinstance(authenticator, MasterKey):
            return authenticator
    raise Conflict("The built-in master key is disabled.", code="master_key_disabled")


@post("/admin/master-key/rotate", status_code=200)
async def rotate_master_key(request: Request[Any, Any, Any]) -> Response[bytes]:
    gateway: Gateway = request.app.state.gateway
    principal = await require_admin(gateway, request)
    if principal.key_id != "master" and not gateway.auth.disabled:
        raise PermissionDenied("Only the master key can rotate the master key.")
    key = await _master_key(gateway).rotate(gateway.registry)
    return json_response(
        {"object": "master_key", "key": key, "note": "The previous master key no longer works."}
    )


@hookimpl(trylast=True)
def plugbay_register_authenticators(register: AuthenticatorRegister, settings: Settings) -> None:
    key = settings.auth.master_key
    register.authenticator(MasterKey(hash_key(key) if key else None))


@hookimpl(trylast=True)
def plugbay_register_routes(register: RouteRegister, settings: Settings) -> None:
    register.route(rotate_master_key)
