"""``POST /v1/models/recommend``: a plugbay extension beside ``/v1/models``.

Authenticated as ``/v1/models`` (scope ``models``); a key is only ever told about the
models it may use, so the answer (and its ``excluded`` list) never names others. The
ranking itself is :func:`plugbay._router.recommend.recommend`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, get, post

from plugbay._asgi import invalid_json
from plugbay._auth import require_scope
from plugbay._errors import InvalidRequest, ModelNotFound
from plugbay._metadata import adapter_capabilities, model_capabilities, model_object
from plugbay._router.recommend import Candidate, RecommendRequest, recommend
from plugbay._routes.common import authenticate, json_response
from plugbay._validation import describe

if TYPE_CHECKING:
    from plugbay._gateway import Gateway

_decode = msgspec.json.Decoder(RecommendRequest).decode


def parse(raw: bytes) -> RecommendRequest:
    """The request body (empty: every default); a bad field is a 400 naming it."""
    if not raw.strip():
        return RecommendRequest()
    try:
        return _decode(raw)
    except msgspec.ValidationError as exc:
        param, message = describe(exc)
        raise InvalidRequest(message, param=param) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise invalid_json() from None


def candidates(gateway: Gateway, allowed: Any) -> list[Candidate]:
    """The gateway's models that ``allowed(name)`` says yes to, as the ranking sees them."""
    found = []
    for name, route in gateway.routes.items():
        if not allowed(name):
            continue
        record = gateway.snapshot.models.get(name)
        settings = record.settings if record is not None else None
        found.append(
            Candidate(
                model=name,
                deployments=route.deployments,
                tags=tuple(settings.tags) if settings is not None else (),
                capabilities=model_capabilities(
                    adapter_capabilities(route.provider),
                    settings.capabilities if settings is not None else None,
                ),
            )
        )
    return found


def recommend_routes(gateway: Gateway) -> list[Any]:
    @post(["/v1/models/recommend", "/models/recommend"], status_code=200)
    async def recommend_models(request: Request[Any, Any, Any]) -> Response[bytes]:
        principal = await authenticate(gateway, request)
        require_scope(principal, "models")
        query = parse(await request.body())
        return json_response(recommend(candidates(gateway, principal.may_use), query))

    @get(["/v1/models/recommend", "/models/recommend"])
    async def model_named_recommend(request: Request[Any, Any, Any]) -> Response[bytes]:
        """``GET /v1/models/{id}`` for a model named ``recommend``, which the static path
        above would otherwise hide from the path-parameter route."""
        principal = await authenticate(gateway, request)
        require_scope(principal, "models")
        if "recommend" not in gateway.routes or not principal.may_use("recommend"):
            raise ModelNotFound("recommend")
        return json_response(model_object(gateway, "recommend"))

    return [recommend_models, model_named_recommend]
