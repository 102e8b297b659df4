"""The OpenAI-compatible ``/v1`` surface (also served without the ``/v1`` prefix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Response, get

from plugbay import _asgi, _metadata, _pipeline
from plugbay._auth import require_scope
from plugbay._errors import ModelNotFound
from plugbay._routes.common import authenticate, json_response
from plugbay.schemas import ModelList, ModelObject

if TYPE_CHECKING:
    from plugbay._asgi import Receive, Scope, Send
    from plugbay._gateway import Gateway


def completion_endpoints(gateway: Gateway) -> dict[str, _asgi.ASGIApp]:
    """The hot path, by exact path: raw ASGI apps the app dispatches to before its router."""

    async def method_not_allowed(scope: Scope, send: Send) -> None:
        error = _asgi.method_not_allowed(scope["method"], "POST")
        await _asgi.send_error(send, error, {"x-request-id": _asgi.request_id(scope)})

    async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await method_not_allowed(scope, send)
            return
        await _pipeline.handle_chat(gateway, scope, receive, send)

    async def embeddings(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await method_not_allowed(scope, send)
            return
        await _pipeline.handle_embeddings(gateway, scope, receive, send)

    return {
        "/v1/chat/completions": chat_completions,
        "/chat/completions": chat_completions,
        "/v1/embeddings": embeddings,
        "/embeddings": embeddings,
    }


def openai_routes(gateway: Gateway) -> list[Any]:
    def model_object(name: str) -> ModelObject:
        return _metadata.model_object(gateway, name)

    @get(["/v1/models", "/models"])
    async def list_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal = await authenticate(gateway, request)
        require_scope(principal, "models")
        names = sorted(name for name in gateway.routes if principal.may_use(name))
        return json_response(ModelList(data=[model_object(name) for name in names]))

    @get(["/v1/models/{model_id:path}", "/models/{model_id:path}"])
    async def get_model(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal = await authenticate(gateway, request)
        require_scope(principal, "models")
        name = str(request.path_params["model_id"]).lstrip("/")
        if name not in gateway.routes or not principal.may_use(name):
            raise ModelNotFound(name)
        return json_response(model_object(name))

    return [list_models, get_model]
