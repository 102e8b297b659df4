"""``create_app(settings, plugins=None) -> Litestar``: a factory, no module globals."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from plugbay._asgi import add_request_id
from plugbay._errors import PlugbayError, error_body
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay._routes.admin import admin_routes
from plugbay._routes.health import health_routes
from plugbay._routes.openai import completion_endpoints, openai_routes
from plugbay._settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("plugbay")

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    429: "rate_limit_error",
}


def _plugbay_error(request: Request[Any, Any, Any], exc: PlugbayError) -> Response[bytes]:
    return Response(
        exc.body(),
        status_code=exc.status_code,
        media_type="application/json",
        headers=exc.headers or None,
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code = {404: "not_found", 405: "method_not_allowed"}.get(status)
    message = exc.detail
    if isinstance(exc, ValidationException):
        code = "invalid_request"
    elif status == 404:
        message = f"Unknown request URL: {request.method} {request.url.path}."
    body = error_body(
        message,
        _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        None,
        code,
    )
    return Response(
        body,
        status_code=status,
        media_type="application/json",
        headers=getattr(exc, "headers", None) or None,
    )


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(
        "The server had an error while processing your request.",
        "server_error",
        None,
        "internal_error",
    )
    return Response(body, status_code=500, media_type="application/json")


class PlugbayApp(Litestar):
    """Litestar, with the completion endpoints dispatched by exact path before its router.

    Everything else (models, health, admin, plugin routes) goes through Litestar as usual.
    """

    fast_paths: dict[str, Any]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            endpoint = self.fast_paths.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    plugins: Sequence[object] | None = None,
    *,
    manager: PluginManager | None = None,
    import_config: bool = True,
) -> Litestar:
    """Build the gateway app.

    :param settings: the configuration; defaults to the embedded default.
    :param plugins: plugin modules or objects to register instead of the installed entry
        points (the built-in plugins are always registered unless disabled by name).
    :param manager: a plugin manager already built from ``settings`` (the CLI's).
    :param import_config: import the config's providers and models into the registry at
        start-up; the CLI's registry commands serve the registry as it is.
    """
    settings = settings or Settings()
    manager = manager or PluginManager.build(settings.plugins, plugins)
    gateway = Gateway(settings, manager, import_config=import_config)
    handlers: list[Any] = [
        *openai_routes(gateway),
        *health_routes(gateway),
        *admin_routes(gateway),
        *manager.routes(settings),
    ]
    app = PlugbayApp(
        route_handlers=handlers,
        on_startup=[gateway.start],
        on_shutdown=[gateway.stop],
        before_send=[add_request_id],  # type: ignore[list-item]
        exception_handlers={
            PlugbayError: _plugbay_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
        openapi_config=None,
        logging_config=None,
    )
    app.state.gateway = gateway
    app.fast_paths = completion_endpoints(gateway)
    return app
