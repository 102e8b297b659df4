from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from litestar import Response, get

from plugbay.routes.common import json_response

if TYPE_CHECKING:
    from plugbay.gateway import Gateway


def health_routes(gateway: Gateway) -> list[Any]:
    @get("/health")
    async def health() -> Response[bytes]:
        """Liveness: the process answers."""
        return json_response({"status": "ok"})

    @get("/health/ready")
    async def ready() -> Response[bytes]:
        """Readiness: plugins and registry are loaded."""
        if gateway.ready:
            return json_response(
                {"status": "ready", "models": len(gateway.routes), "pid": os.getpid()}
            )
        return json_response({"status": "starting"}, status_code=503)

    return [health, ready]
