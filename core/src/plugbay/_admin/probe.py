"""``POST /admin/providers/{name}/test``: one tiny real request through the adapter."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec

from plugbay._errors import InvalidRequest, PlugbayError
from plugbay._types import ChatRequest
from plugbay.schemas import ChatCompletionParams

if TYPE_CHECKING:
    from plugbay._gateway import Gateway

_encode = msgspec.json.Encoder().encode


def ping_target(gateway: Gateway, name: str, model: str | None) -> tuple[str, str] | None:
    """``(public, upstream)`` model names to ping provider ``name`` with: ``model`` (a public
    name it serves, else taken as the upstream's name), or the first model a route sends to
    it; ``None`` when it serves none and no ``model`` is given."""
    served = [
        (r.name, d.upstream_model)
        for r in gateway.routes.values()
        for d in r.deployments
        if d.provider_name == name
    ]
    if model is not None:
        served = [s for s in served if s[0] == model]
    upstream_model = served[0][1] if served else model
    if upstream_model is None:
        return None
    return (served[0][0] if served else upstream_model), upstream_model


def ping_request(public: str, upstream_model: str, request_id: str = "probe") -> ChatRequest:
    """The cheapest chat request: ``ping`` with ``max_tokens: 1``."""
    body = {"model": public, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    return ChatRequest(
        params=msgspec.convert(body, ChatCompletionParams),
        body=body,
        raw=_encode(body),
        public_model=public,
        upstream_model=upstream_model,
        request_id=request_id,
    )


async def probe_provider(gateway: Gateway, name: str, model: str | None) -> dict[str, Any]:
    """Send ``ping`` with ``max_tokens: 1``; report latency and the answer or the error."""
    target = ping_target(gateway, name, model)
    if target is None:
        raise InvalidRequest(
            f'Provider {name!r} serves no model yet; pass one: {{"model": "..."}}.', param="model"
        )
    provider = gateway.provider(name)
    public, upstream_model = target
    request = ping_request(public, upstream_model)
    started = time.perf_counter()
    try:
        response = await provider.chat(request)
    except PlugbayError as error:
        return {
            "ok": False,
            "provider": name,
            "model": upstream_model,
            "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
            "status": error.status_code,
            "error": msgspec.json.decode(error.body())["error"],
        }
    return {
        "ok": True,
        "provider": name,
        "model": upstream_model,
        "latency_ms": round((time.perf_counter() - started) * 1e3, 2),
        "response": msgspec.json.decode(response.content),
    }
