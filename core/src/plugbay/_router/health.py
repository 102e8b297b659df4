"""Active health checks: a cheap request to a provider every so often, feeding its breakers.

``[router.health_checks.<provider>]`` turns them on for one provider. Each worker then runs
one task per such provider that sends ``ping`` with ``max_tokens: 1`` (what
``POST /admin/providers/{name}/test`` sends) straight to the provider object, every
``interval`` seconds after the previous check ended. A failure worth a retry (an upstream
5xx, 408, 429, a refused connection, a timeout: :func:`plugbay._router.retry.retryable`)
counts as a failure on the breaker of every deployment at that provider, and a success
as a success: so a dead upstream's breakers open with no client traffic, and a recovered
one's close again before a client has to find out.

Checks bypass the router: they are not client requests, so they change no
:class:`~plugbay._router.deployments.DeploymentStats`, no usage record, no database row.
Their last result is kept in memory for ``/health/detailed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

if TYPE_CHECKING:
    from plugbay._gateway import Gateway
    from plugbay._router.breaker import Breaker

__all__ = ["CheckResult", "HealthCheck", "HealthChecks"]

log = logging.getLogger("plugbay.router")

_Positive = Annotated[float, msgspec.Meta(gt=0)]
_SECRETISH = re.compile(r"(?i)\b(sk-|key-|bearer\s+)?[A-Za-z0-9_\-]{24,}")
_MAX_MESSAGE = 200


class HealthCheck(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One provider's active health check (``[router.health_checks.<provider>]``)."""

    interval: _Positive
    """Seconds between the end of one check and the start of the next."""
    model: str | None = None
    """The model to ping: a public name the provider serves, else the provider's own name
    for a model; default: the first upstream model a route sends to it."""
    timeout: _Positive = 10.0
    """Seconds a check may take; longer is a failure."""


class CheckResult(msgspec.Struct, kw_only=True):
    """A provider's last check, as ``/health/detailed`` shows it under each deployment."""

    last_checked_at: float
    """When it ended (``time.time()``)."""
    last_ok: bool
    latency_ms: float
    last_error: dict[str, Any] | None = None
    """``status``, ``code`` and ``message`` (shortened, anything key-like masked)."""
    checks: int = 0
    """Checks this worker ran at this provider."""
    failures: int = 0
    """Of those, the ones that counted against its breakers."""


def _masked(message: str) -> str:
    """The message without anything that looks like a key (an upstream may echo one)."""
    return _SECRETISH.sub("***", message)[:_MAX_MESSAGE]


class HealthChecks:
    """This worker's health-check tasks, one per configured provider."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.checks: dict[str, HealthCheck] = dict(gateway.settings.router.health_checks)
        self.results: dict[str, CheckResult] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for provider, check in sorted(self.checks.items()):
            if provider not in self.gateway.snapshot.providers:
                log.warning("[router.health_checks.%s] names no provider in the registry", provider)
            self._tasks.append(
                asyncio.create_task(self._loop(provider, check), name=f"plugbay-health-{provider}")
            )

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def view(self, provider: str) -> dict[str, Any] | None:
        """The last result at ``provider`` (``None``: no check configured, or none ran yet)."""
        result = self.results.get(provider)
        if result is None:
            return None
        view: dict[str, Any] = msgspec.to_builtins(result)
        view["interval"] = self.checks[provider].interval
        return view

    async def _loop(self, provider: str, check: HealthCheck) -> None:
        while True:
            try:
                await self.run(provider, check)
            except Exception:  # a bug here must not end the checks
                log.exception("health check of provider %r failed unexpectedly", provider)
            await asyncio.sleep(check.interval)

    def _breakers(self, provider: str) -> list[Breaker]:
        """The breaker of every deployment at ``provider`` (once each)."""
        found: dict[str, Breaker] = {}
        for route in self.gateway.routes.values():
            for deployment in route.deployments:
                if deployment.provider_name == provider:
                    found.setdefault(deployment.name, deployment.breaker)
        return list(found.values())

    async def run(self, provider: str, check: HealthCheck) -> CheckResult | None:
        """One check of ``provider``; ``None`` when there is nothing to check (it serves no
        model and names none, or it is not loaded)."""
        from plugbay._admin.probe import ping_request, ping_target
        from plugbay._errors import PlugbayError, UpstreamTimeout
        from plugbay._router.retry import retryable

        gateway = self.gateway
        target = ping_target(gateway, provider, check.model)
        if target is None or provider not in gateway.snapshot.providers:
            return None
        try:
            client = gateway.provider(provider)
        except PlugbayError:
            return None  # in the registry but cannot serve: /health/ready says why
        request = ping_request(*target, request_id=f"health-check-{provider}")
        began = time.perf_counter()
        error: PlugbayError | None = None
        failed = False
        try:
            async with asyncio.timeout(check.timeout):
                await client.chat(request)
        except TimeoutError:
            error = UpstreamTimeout(f"The health check did not end within {check.timeout:g} s.")
            failed = True
        except PlugbayError as exc:
            error, failed = exc, retryable(exc)
        except Exception as exc:  # an adapter's bug: it cannot serve either
            error = PlugbayError(f"The adapter raised {type(exc).__name__}.", code="adapter_error")
            failed = True
        latency_ms = round((time.perf_counter() - began) * 1e3, 3)
        now = time.time()
        for breaker in self._breakers(provider):
            if failed:
                await breaker.failure(now)
            elif error is None:
                await breaker.success(now)
        previous = self.results.get(provider)
        result = CheckResult(
            last_checked_at=now,
            last_ok=error is None,
            latency_ms=latency_ms,
            last_error=None
            if error is None
            else {
                "status": error.status_code,
                "code": error.code,
                "message": _masked(error.message),
            },
            checks=(previous.checks if previous else 0) + 1,
            failures=(previous.failures if previous else 0) + failed,
        )
        self.results[provider] = result
        if error is not None and (previous is None or previous.last_ok):
            log.warning(
                "health check of provider %r failed: %s (%s)",
                provider,
                error.code,
                error.status_code,
            )
        elif error is None and previous is not None and not previous.last_ok:
            log.info("health check of provider %r passes again", provider)
        return result
