"""What the Litestar handlers share: authentication, JSON answers, the admin guard."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response

from plugbay._errors import PermissionDenied

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._types import Principal

_encode = msgspec.json.Encoder().encode


def json_response(value: Any, status_code: int = 200) -> Response[bytes]:
    return Response(_encode(value), status_code=status_code, media_type="application/json")


async def authenticate(gateway: Gateway, request: Request[Any, Any, Any]) -> Principal:
    return await gateway.auth.authenticate(request.headers)


async def require_admin(gateway: Gateway, request: Request[Any, Any, Any]) -> Principal:
    principal = await authenticate(gateway, request)
    if not principal.has_scope("admin") and not gateway.auth.disabled:
        raise PermissionDenied("This endpoint needs an admin key.", code="missing_scope")
    return principal
