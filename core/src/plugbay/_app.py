"""``create_app(settings, plugins=None) -> Litestar``: a factory, no module globals."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response.base import ASGIResponse

from plugbay import _asgi
from plugbay._errors import InvalidRequest, PayloadTooLarge, PlugbayError
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay._routes.admin import admin_routes
from plugbay._routes.health import health_routes
from plugbay._routes.openai import completion_endpoints, openai_routes
from plugbay._routes.recommend import recommend_routes
from plugbay._settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("plugbay")

AnyRequest = Request[Any, Any, Any]


def as_error(request: AnyRequest, exc: Exception) -> PlugbayError:
    """What Litestar's half raised, as the error the fast path would answer with."""
    if isinstance(exc, PlugbayError):
        return exc
    if isinstance(exc, HTTPException):
        status = exc.status_code
        if status == 404:
            return _asgi.unknown_url(request.method, request.url.path)
        if status == 405:
            allowed = (exc.headers or {}).get("allow") or (exc.headers or {}).get("Allow", "")
            return _asgi.method_not_allowed(request.method, allowed)
        if status == 413:
            return PayloadTooLarge(exc.detail)
        if isinstance(exc, ValidationException):
            return InvalidRequest(exc.detail, code="invalid_request")
        error_type = "server_error" if status >= 500 else "invalid_request_error"
        return PlugbayError(
            exc.detail, status_code=status, error_type=error_type, headers=exc.headers
        )
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _asgi.internal_error(exc)


class _ErrorASGI(ASGIResponse):
    """Sends ``error`` with :func:`plugbay._asgi.send_error`, as the fast path does."""

    def __init__(self, error: PlugbayError) -> None:  # Litestar's fields are never read
        self.error = error

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {"x-request-id": _asgi.request_id(scope)}
        await _asgi.send_error(send, self.error, headers)


class ErrorResponse(Response[bytes]):
    def __init__(self, error: PlugbayError) -> None:
        super().__init__(b"", status_code=error.status_code)
        self.error = error

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        return _ErrorASGI(self.error)


def _render_error(request: AnyRequest, exc: Exception) -> Response[bytes]:
    return ErrorResponse(as_error(request, exc))


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


class WrappedPlugbayApp(PlugbayApp):
    """A :class:`PlugbayApp` served through the ``plugbay_wrap_asgi`` middlewares.

    A class of its own, so that an app nobody wraps keeps :class:`PlugbayApp`'s ``__call__``
    and the hot path gains no layer.
    """

    wrapped: _asgi.ASGIApp

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.wrapped(scope, receive, send)

    async def dispatch(self, scope: Any, receive: Any, send: Any) -> None:
        await PlugbayApp.__call__(self, scope, receive, send)

    def wrap(self, wrappers: Sequence[Callable[[_asgi.ASGIApp], _asgi.ASGIApp]]) -> None:
        app: _asgi.ASGIApp = self.dispatch
        for wrapper in reversed(wrappers):  # the first is the outermost
            if not callable(wrapper):
                raise TypeError(f"plugbay_wrap_asgi returned {wrapper!r}, not a middleware")
            app = wrapper(app)
            if not callable(app):
                raise TypeError(f"plugbay_wrap_asgi: {wrapper!r} returned {app!r}, not an app")
        self.wrapped = app


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
        *recommend_routes(gateway),
        *health_routes(gateway),
        *admin_routes(gateway),
        *manager.routes(settings),
    ]
    wrappers = manager.asgi_wrappers(settings)
    app = (WrappedPlugbayApp if wrappers else PlugbayApp)(
        route_handlers=handlers,
        on_startup=[gateway.start],
        on_shutdown=[gateway.stop],
        before_send=[_asgi.add_request_id],  # type: ignore[list-item]
        exception_handlers={Exception: _render_error},
        openapi_config=None,
        logging_config=None,
    )
    app.state.gateway = gateway
    app.fast_paths = completion_endpoints(gateway)
    if isinstance(app, WrappedPlugbayApp):
        app.wrap(wrappers)
    return app
