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


async def probe_provider(gateway: Gateway, name: str, model: str | None) -> dict[str, Any]:
    """Send ``ping`` with ``max_tokens: 1``; report latency and the answer or the error."""
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
        raise InvalidRequest(
            f'Provider {name!r} serves no model yet; pass one: {{"model": "..."}}.', param="model"
        )
    provider = gateway.provider(name)
    public = served[0][0] if served else upstream_model
    body = {"model": public, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    request = ChatRequest(
        params=msgspec.convert(body, ChatCompletionParams),
        body=body,
        raw=_encode(body),
        public_model=public,
        upstream_model=upstream_model,
        request_id="probe",
    )
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
