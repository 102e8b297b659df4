"""``/health``, ``/health/live``, ``/health/ready`` and ``/health/detailed``."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import time
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, get

from plugbay._metadata import provider_state
from plugbay._routes.common import json_response, require_admin
from plugbay._stats import ProviderStats
from plugbay._utils import await_me_maybe

if TYPE_CHECKING:
    from plugbay._gateway import Gateway

COMPONENT_HEALTH_TIMEOUT = 1.0
"""Seconds a component's ``health()`` may take before it is reported as ``timeout``."""

_LIVE = msgspec.json.encode({"status": "ok"})


def health_routes(gateway: Gateway) -> list[Any]:
    @get(["/health", "/health/live"])
    async def live() -> Response[bytes]:
        """Liveness: the process answers (touches neither the registry nor an upstream)."""
        return Response(_LIVE, media_type="application/json")

    @get("/health/ready")
    async def ready() -> Response[bytes]:
        """Readiness: plugins and registry are loaded.

        200 ``ready``; 200 ``degraded`` when some providers in the registry cannot serve (an
        api key that cannot be decrypted...): the other models still do, so a load balancer
        keeps sending traffic, and ``unavailable`` says what is wrong; 503 ``starting``, and
        503 ``draining`` once the process was told to stop.
        """
        if gateway.draining:
            return json_response({"status": "draining", "pid": os.getpid()}, status_code=503)
        if not gateway.ready:
            return json_response({"status": "starting"}, status_code=503)
        body: dict[str, Any] = {
            "status": "degraded" if gateway.unavailable else "ready",
            "models": len(gateway.routes),
            "pid": os.getpid(),
        }
        if gateway.unavailable:
            body["unavailable"] = unavailable(gateway)
        return json_response(body)

    @get("/health/detailed")
    async def detailed(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Everything an operator looks at first (admin credential): see :func:`report`."""
        await require_admin(gateway, request)
        return json_response(await report(gateway))

    return [live, ready, detailed]


def unavailable(gateway: Gateway) -> list[dict[str, Any]]:
    return [
        {
            "provider": name,
            "code": problem.code,
            "message": problem.message,
            "models": gateway.unavailable_models(name),
        }
        for name, problem in sorted(gateway.unavailable.items())
    ]


def _status(gateway: Gateway) -> str:
    if gateway.draining:
        return "draining"
    if not gateway.ready:
        return "starting"
    return "degraded" if gateway.unavailable else "ready"


async def report(gateway: Gateway) -> dict[str, Any]:
    """This worker's view: each provider's state and measured figures, the registry, the
    plugins and what their components say of themselves.

    Figures are in-memory counters of this worker since it started (``pid``, ``uptime_s``);
    each worker of ``--workers N`` keeps its own.
    """
    stats = gateway.stats
    names = sorted(set(gateway.snapshot.providers) | set(gateway.unavailable))
    providers = []
    for name in names:
        record = gateway.snapshot.providers.get(name)
        figures = stats.providers.get(name) or ProviderStats()
        entry: dict[str, Any] = {
            "name": name,
            "type": record.type if record is not None else None,
            **figures.view(),
            "models": sorted(
                m
                for m, r in gateway.routes.items()
                if any(d.provider_name == name for d in r.deployments)
            )
            or gateway.unavailable_models(name),
        }
        entry["state"] = provider_state(gateway, name)
        problem = gateway.unavailable.get(name)
        if problem is not None:
            entry["problem"] = {"code": problem.code, "message": problem.message}
        providers.append(entry)
    return {
        "status": _status(gateway),
        "pid": os.getpid(),
        "uptime_s": round(time.time() - stats.started_at, 3),
        "providers": providers,
        "deployments": _deployments(gateway),
        "registry": {
            "status": "loaded" if gateway.ready else "not_loaded",
            "version": gateway.snapshot.version,
            "providers": len(gateway.snapshot.providers),
            "models": len(gateway.routes),
            "unavailable": unavailable(gateway),
        },
        "plugins": plugins(gateway),
        "components": await components(gateway),
    }


def _deployments(gateway: Gateway) -> dict[str, Any]:
    """The router's view of each deployment, with its provider's last active health check
    (``health_check``: ``None`` when none is configured or none ran yet)."""
    found = gateway.router.view(gateway.routes)
    checks = gateway.health_checks
    for view in found.values():
        view["health_check"] = checks.view(view["provider"])
    return found


def plugins(gateway: Gateway) -> list[dict[str, Any]]:
    """Each loaded plugin with its distribution and version (the built-ins: plugbay's)."""
    core = _core_version()
    result = []
    for info in gateway.plugins.list_plugins():
        dist: str | None
        version: str | None
        if info.builtin:
            dist, version = info.distribution or "plugbay", info.version or core
        else:
            dist, version = info.distribution, info.version
        result.append(
            {"name": info.name, "distribution": dist, "version": version, "builtin": info.builtin}
        )
    return result


def _core_version() -> str | None:
    try:
        return importlib.metadata.version("plugbay")
    except importlib.metadata.PackageNotFoundError:
        return None


async def components(gateway: Gateway) -> list[dict[str, Any]]:
    """What each registered object with a ``health()`` method (sync or async, returning a
    dict with at least ``status``) says; a Redis-backed limiter or cache reports its
    connection this way."""
    objects: list[Any] = [*gateway.auth.authenticators, *gateway.rate_limiters]
    if gateway.cache is not None:
        objects.append(gateway.cache)
    seen: set[int] = set()
    result: list[dict[str, Any]] = []
    for obj in objects:
        check = getattr(obj, "health", None)
        if check is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        try:
            said = await asyncio.wait_for(await_me_maybe(check()), COMPONENT_HEALTH_TIMEOUT)
            entry = dict(said) if isinstance(said, dict) else {"status": str(said)}
        except TimeoutError:
            entry = {"status": "timeout"}
        except Exception as exc:  # a broken check is news, not a 500
            entry = {"status": "error", "error": type(exc).__name__}
        result.append({"component": name, **entry})
    return result
