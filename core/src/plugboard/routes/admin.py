"""Admin endpoints (admin credential required)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get

from plugboard.routes.common import json_response, require_admin

if TYPE_CHECKING:
    from plugboard.gateway import Gateway


def admin_routes(gateway: Gateway) -> list[Any]:
    @get("/admin/plugins")
    async def list_plugins(request: Request[Any, Any, Any]) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response({"data": gateway.plugins.list_plugins()})

    return [list_plugins]
