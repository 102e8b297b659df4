from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from litestar import Response, get

from plugbay._routes.common import json_response

if TYPE_CHECKING:
    from plugbay._gateway import Gateway


def health_routes(gateway: Gateway) -> list[Any]:
    @get("/health")
    async def health() -> Response[bytes]:
        """Liveness: the process answers."""
        return json_response({"status": "ok"})

    @get("/health/ready")
    async def ready() -> Response[bytes]:
        """Readiness: plugins and registry are loaded.

        200 ``ready``; 200 ``degraded`` when some providers in the registry cannot serve (an
        api key that cannot be decrypted...): the other models still do, so a load balancer
        keeps sending traffic, and ``unavailable`` says what is wrong; 503 ``starting``.
        """
        if not gateway.ready:
            return json_response({"status": "starting"}, status_code=503)
        body: dict[str, Any] = {
            "status": "degraded" if gateway.unavailable else "ready",
            "models": len(gateway.routes),
            "pid": os.getpid(),
        }
        if gateway.unavailable:
            body["unavailable"] = [
                {
                    "provider": name,
                    "code": problem.code,
                    "message": problem.message,
                    "models": gateway.unavailable_models(name),
                }
                for name, problem in sorted(gateway.unavailable.items())
            ]
        return json_response(body)

    return [health, ready]
