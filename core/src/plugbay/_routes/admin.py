"""``/admin``: plugins, providers, models, keys and usage (admin credential required)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, delete, get, patch, post

from plugbay._admin import AdminService
from plugbay._asgi import invalid_json
from plugbay._errors import InvalidRequest
from plugbay._routes.common import json_response, require_admin
from plugbay._validation import MAX_DEPTH, too_deep

if TYPE_CHECKING:
    from plugbay._gateway import Gateway

AnyRequest = Request[Any, Any, Any]


async def _body(request: AnyRequest) -> Any:
    raw = await request.body()
    try:
        body = msgspec.json.decode(raw) if raw else {}
    except RecursionError:
        raise InvalidRequest(
            f"The request body is nested too deeply (more than {MAX_DEPTH} levels)."
        ) from None
    # msgspec raises UnicodeDecodeError on bad UTF-8.
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise invalid_json() from None
    deep = too_deep(body)
    if deep is not None:
        field = deep.split(".")[0].split("[")[0] or None
        raise InvalidRequest(
            f"{field or 'The request body'}: nested more than {MAX_DEPTH} levels deep.",
            param=field,
        )
    return body


def _paging(request: AnyRequest) -> tuple[int, str | None]:
    raw = request.query_params.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest("`limit` must be an integer.", param="limit") from None
    return limit, request.query_params.get("after")


def _param(request: AnyRequest, name: str) -> str:
    return str(request.path_params[name]).lstrip("/")


def admin_routes(gateway: Gateway) -> list[Any]:
    service = AdminService(gateway)

    @get("/admin/plugins")
    async def list_plugins(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response({"object": "list", "data": gateway.plugins.list_plugins()})

    # --- providers -----------------------------------------------------------------------------

    @get("/admin/providers")
    async def list_providers(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.list_providers(*_paging(request)))

    @post("/admin/providers")
    async def create_provider(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.create_provider(await _body(request)), 201)

    @get("/admin/providers/{name:str}")
    async def get_provider(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.get_provider(_param(request, "name")))

    @patch("/admin/providers/{name:str}")
    async def update_provider(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        name = _param(request, "name")
        return json_response(await service.update_provider(name, await _body(request)))

    @delete("/admin/providers/{name:str}", status_code=200)
    async def delete_provider(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.delete_provider(_param(request, "name")))

    @post("/admin/providers/{name:str}/test", status_code=200)
    async def test_provider(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        body = await _body(request)
        model = body.get("model") if isinstance(body, dict) else None
        if model is not None and not isinstance(model, str):
            raise InvalidRequest("`model` must be a string.", param="model")
        return json_response(await service.test_provider(_param(request, "name"), model))

    # --- models --------------------------------------------------------------------------------

    @get("/admin/models")
    async def list_models(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.list_models(*_paging(request)))

    @post("/admin/models")
    async def create_model(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.create_model(await _body(request)), 201)

    @get("/admin/models/{name:path}")
    async def get_model(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.get_model(_param(request, "name")))

    @patch("/admin/models/{name:path}")
    async def update_model(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        name = _param(request, "name")
        return json_response(await service.update_model(name, await _body(request)))

    @delete("/admin/models/{name:path}", status_code=200)
    async def delete_model(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.delete_model(_param(request, "name")))

    # --- keys ----------------------------------------------------------------------------------

    @get("/admin/keys")
    async def list_keys(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.list_keys(*_paging(request)))

    @post("/admin/keys")
    async def create_key(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.create_key(await _body(request)), 201)

    @get("/admin/keys/{key_id:str}")
    async def get_key(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.get_key(_param(request, "key_id")))

    @patch("/admin/keys/{key_id:str}")
    async def update_key(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        key_id = _param(request, "key_id")
        return json_response(await service.update_key(key_id, await _body(request)))

    @delete("/admin/keys/{key_id:str}", status_code=200)
    async def revoke_key(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        return json_response(await service.revoke_key(_param(request, "key_id")))

    # --- usage ---------------------------------------------------------------------------------

    @get("/admin/usage")
    async def usage(request: AnyRequest) -> Response[bytes]:
        await require_admin(gateway, request)
        query = request.query_params
        report = await service.usage(
            start=_number_or_text(query.get("start")),
            end=_number_or_text(query.get("end")),
            group_by=query.get("group_by"),
            key_id=query.get("key_id"),
            model=query.get("model"),
        )
        return json_response(report)

    return [
        list_plugins,
        list_providers,
        create_provider,
        get_provider,
        update_provider,
        delete_provider,
        test_provider,
        list_models,
        create_model,
        get_model,
        update_model,
        delete_model,
        list_keys,
        create_key,
        get_key,
        update_key,
        revoke_key,
        usage,
    ]


def _number_or_text(value: str | None) -> float | str | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value
