"""The router: which deployment serves a request, and what happens when one fails.

For each request the model's strategy orders its deployments (a model with one deployment
skips that), and the router tries the first one that is not open (its circuit breaker),
capped (its per-minute caps) or waiting out a ``Retry-After``. A retryable failure counts
against the deployment's breaker and the next attempt goes elsewhere at once, or back to
the same deployment after a jittered exponential backoff (never sooner than the upstream's
``Retry-After``), until the attempts or the deadline run out. Then the model's fallbacks
are tried, each with its own attempts; an upstream refusing the prompt as too long for its
context goes to the model's ``context_window_fallbacks`` instead, and an answer refused by
a content filter to its ``content_filter_fallbacks``.

Every answer names the deployment that served it (``x-plugbay-deployment``) and the
attempts it took (``x-plugbay-attempts``); so do usage records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from plugbay._errors import (
    InvalidRequest,
    PlugbayError,
    RateLimited,
    ServiceUnavailable,
    UpstreamTimeout,
)
from plugbay._router.deployments import Deployment, DeploymentStats
from plugbay._router.retry import backoff, is_context_error, retryable
from plugbay._stats import Stats

if TYPE_CHECKING:
    from plugbay._router.breaker import BreakerStore
    from plugbay._router.settings import RetrySettings, RouterSettings
    from plugbay._router.strategies import Strategy
    from plugbay._types import RequestContext

__all__ = ["ATTEMPTS_HEADER", "DEPLOYMENT_HEADER", "Route", "Router"]

log = logging.getLogger("plugbay.router")

DEPLOYMENT_HEADER = "x-plugbay-deployment"
ATTEMPTS_HEADER = "x-plugbay-attempts"
SERVED = "plugbay.deployment"
"""``ctx.extra`` key: the :class:`Deployment` whose attempt succeeded, until the request ends."""
STATS = "plugbay.stats"
"""``ctx.extra`` key: the :class:`~plugbay._stats.ProviderStats` of the provider last tried."""
_NONE_AVAILABLE = ("deployments_unavailable", "deployments_capped", "deployments_rate_limited")
_COUNTS = tuple(str(n) for n in range(33))

T = TypeVar("T")
Call = Callable[[Deployment, Any], Awaitable[T]]


class Route:
    """A public model: its deployments, how to choose among them, what to fall back to.

    ``provider``, ``provider_name`` and ``upstream_model`` are the first deployment's (what
    the cache keys by, before a deployment is chosen).
    """

    __slots__ = (
        "content_filter_fallbacks",
        "context_window_fallbacks",
        "deployments",
        "fallbacks",
        "name",
        "provider",
        "provider_name",
        "retry",
        "simple",
        "strategy",
        "upstream_model",
    )

    def __init__(
        self,
        name: str,
        deployments: Sequence[Deployment],
        *,
        strategy: Strategy,
        retry: RetrySettings,
        fallbacks: Sequence[str] = (),
        context_window_fallbacks: Sequence[str] = (),
        content_filter_fallbacks: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.deployments = tuple(deployments)
        first = self.deployments[0]
        self.provider = first.provider
        self.provider_name = first.provider_name
        self.upstream_model = first.upstream_model
        self.strategy = strategy
        self.retry = retry
        self.fallbacks = tuple(fallbacks)
        self.context_window_fallbacks = tuple(context_window_fallbacks)
        self.content_filter_fallbacks = tuple(content_filter_fallbacks)
        self.simple = (
            len(self.deployments) == 1
            and first.timeout is None
            and first.rpm is None
            and first.tpm is None
            and retry.attempts in (None, 1)
            and not (self.fallbacks or self.context_window_fallbacks)
            and not self.content_filter_fallbacks
        )
        """One deployment, one attempt, nothing to fall back to: the router's short path."""


class Router:
    """Routing state of one worker: deployments' figures and breakers, kept across reloads."""

    def __init__(
        self, settings: RouterSettings, breakers: BreakerStore, providers: Stats | None = None
    ) -> None:
        self.settings = settings
        self.breakers = breakers
        self.providers = providers or Stats()
        """Per-provider figures (``/health/detailed``), charged to the provider an attempt
        went to."""
        self.pin_header = settings.pin_header.lower()
        self.break_single = settings.break_single
        self.stats: dict[str, DeploymentStats] = {}
        """Every deployment's figures by name (they outlive registry reloads)."""
        self.not_before: dict[str, float] = {}
        """Deployment name -> when its upstream's last ``Retry-After`` ends (``time.time()``):
        other requests go to other deployments meanwhile (a model with one deployment, unless
        ``break_single``, still sends there: the client's request is not a retry)."""
        self.resolve: Callable[[str], Route | None] = lambda name: None
        """Finds a fallback's route (the gateway sets it)."""

    def stats_of(self, name: str) -> DeploymentStats:
        found = self.stats.get(name)
        if found is None:
            found = self.stats[name] = DeploymentStats()
        return found

    # --- per request ---------------------------------------------------------------------------

    async def run(
        self,
        ctx: RequestContext,
        route: Route,
        request: Any,
        call: Call[T],
        refused: Callable[[T], bool] | None = None,
    ) -> T:
        """``call(deployment, request)`` at the deployments of ``route`` (then its fallbacks)
        until one succeeds; ``refused(result)`` says an answer was refused by a content filter."""
        if route.simple and not self.break_single and self.pin_header not in ctx.headers:
            return await self._once(ctx, route.deployments[0], request, call)
        pinned = self._pinned(ctx, route)
        deadline = time.time() + route.retry.deadline
        visited = {route.name}
        current = route
        refusal: T | None = None
        while True:
            try:
                result = await self._attempts(ctx, current, request, call, deadline, pinned)
            except PlugbayError as error:
                if refusal is not None:
                    return refusal  # a refused answer beats no answer
                following = None if pinned else self._next(ctx, current, error, visited)
                if following is None:
                    raise
                log.info(
                    "%s: %s failed (%s); falling back to %s",
                    ctx.request_id,
                    current.name,
                    error.code,
                    following.name,
                )
                current = following
                continue
            if refused is not None and current.content_filter_fallbacks and refused(result):
                following = self._pick(ctx, current.content_filter_fallbacks, visited)
                if following is not None:
                    refusal = result
                    current = following
                    continue
            return result

    async def _once(
        self, ctx: RequestContext, deployment: Deployment, request: Any, call: Call[T]
    ) -> T:
        """The short path: one attempt at the only deployment (what :meth:`_attempts` does for
        it, without its bookkeeping)."""
        self._serve_as(ctx, deployment, request)
        stats = deployment.stats
        stats.in_flight += 1
        began = time.perf_counter()
        try:
            result = await call(deployment, request)
        except PlugbayError as error:
            stats.in_flight -= 1
            if retryable(error):
                now = time.time()
                stats.failed(time.perf_counter() - began, now)
                await deployment.breaker.failure(now)
            raise
        except BaseException:
            stats.in_flight -= 1
            raise
        await self._served(ctx, deployment, began)
        return result

    @staticmethod
    async def _served(ctx: RequestContext, deployment: Deployment, began: float) -> None:
        """An attempt at ``deployment`` succeeded: its figures, its breaker, the request's."""
        now = time.time()
        deployment.stats.succeeded(time.perf_counter() - began, now, ctx.stream)
        await deployment.breaker.success(now)
        ctx.extra[SERVED] = deployment

    def _pinned(self, ctx: RequestContext, route: Route) -> str | None:
        pin = ctx.headers.get(self.pin_header)
        if not pin:
            return None
        principal = ctx.principal
        if principal is None or not principal.has_scope("pin"):
            return None  # ignored for keys that may not choose
        if not any(d.provider_name == pin for d in route.deployments):
            raise InvalidRequest(
                f"The `{self.pin_header}` header names `{pin}`, which serves no deployment "
                f"of `{route.name}`.",
                param=self.pin_header,
                code="unknown_provider",
            )
        return pin

    def _next(
        self, ctx: RequestContext, route: Route, error: PlugbayError, visited: set[str]
    ) -> Route | None:
        if is_context_error(error):
            return self._pick(ctx, route.context_window_fallbacks, visited)
        if retryable(error) or error.code in _NONE_AVAILABLE:
            return self._pick(ctx, route.fallbacks, visited)
        return None

    def _pick(self, ctx: RequestContext, names: Sequence[str], visited: set[str]) -> Route | None:
        principal = ctx.principal
        for name in names:
            if name in visited:
                continue
            visited.add(name)
            if principal is not None and not principal.may_use(name):
                continue
            found = self.resolve(name)
            if found is not None:
                return found
            log.warning("fallback model %r of a request is not served; skipped", name)
        return None

    async def _attempts(
        self,
        ctx: RequestContext,
        route: Route,
        request: Any,
        call: Call[T],
        deadline: float,
        pinned: str | None,
    ) -> T:
        deployments = route.deployments
        now = time.time()
        if pinned is not None:
            queue = [d for d in deployments if d.provider_name == pinned]
        elif len(deployments) == 1:
            queue = [deployments[0]]
        else:
            queue = list(route.strategy.order(deployments, now))
        retry = route.retry
        ready_at: dict[str, float] = {}
        failures: dict[str, int] = {}
        last: PlugbayError | None = None
        attempts = 0
        allowed = len(queue) if retry.attempts is None else retry.attempts
        while attempts < allowed:
            chosen, wait, opened, capped = await self._choose(
                queue, ready_at, now, len(queue) > 1 or self.break_single
            )
            if chosen is None:
                longest = max(retry.max_wait, retry.max_backoff)
                if wait is not None and wait < deadline and wait - now <= longest:
                    await asyncio.sleep(max(0.0, wait - time.time()))
                    now = time.time()
                    continue
                if last is not None:
                    raise last
                raise self._unavailable(route, opened, capped, wait, now)
            attempts += 1
            self._serve_as(ctx, chosen, request)
            stats = chosen.stats
            stats.in_flight += 1
            stats.count_request(now)
            began = time.perf_counter()
            try:
                if chosen.timeout is None:
                    result = await call(chosen, request)
                else:
                    try:
                        async with asyncio.timeout(chosen.timeout):
                            result = await call(chosen, request)
                    except TimeoutError:
                        raise UpstreamTimeout(
                            f"The deployment `{chosen.name}` did not answer within "
                            f"{chosen.timeout:g} s."
                        ) from None
            except PlugbayError as error:
                stats.in_flight -= 1
                now = time.time()
                if not retryable(error):
                    raise
                stats.failed(time.perf_counter() - began, now)
                await chosen.breaker.failure(now)
                last = error
                if error.retry_delay:
                    until = now + error.retry_delay
                    if until > self.not_before.get(chosen.name, 0.0):
                        self.not_before[chosen.name] = until
                count = failures[chosen.name] = failures.get(chosen.name, 0) + 1
                wait_for = backoff(count, retry.backoff, retry.max_backoff)
                ready_at[chosen.name] = now + max(wait_for, error.retry_delay or 0.0)
                queue.remove(chosen)
                queue.append(chosen)
                if now >= deadline:
                    break
                continue
            except BaseException:
                stats.in_flight -= 1  # cancelled (the client left): nobody's failure
                raise
            await self._served(ctx, chosen, began)
            return result
        assert last is not None
        raise last

    async def _choose(
        self, queue: list[Deployment], ready_at: dict[str, float], now: float, breaking: bool
    ) -> tuple[Deployment | None, float | None, bool, bool]:
        """The first deployment to try now; else when one may be tried (a wait, not an open
        breaker) and whether breakers or caps kept them out."""
        wait: float | None = None
        opened = capped = False
        not_before = self.not_before
        for deployment in queue:
            name = deployment.name
            ready = ready_at.get(name, 0.0)
            if not_before and breaking:  # another request's Retry-After: go elsewhere
                ready = max(ready, not_before.get(name, 0.0))
            if ready > now:
                wait = ready if wait is None else min(wait, ready)
                continue
            if deployment.capped(now):
                capped = True
                continue
            if breaking and not await deployment.breaker.allow(now):
                opened = True
                continue
            return deployment, None, opened, capped
        return None, wait, opened, capped

    def _serve_as(self, ctx: RequestContext, deployment: Deployment, request: Any) -> None:
        extra = ctx.extra
        previous = extra.get(STATS)
        if previous is not None:
            previous.in_flight -= 1
        stats = extra[STATS] = self.providers.of(deployment.provider_name)
        stats.in_flight += 1
        request.upstream_model = deployment.upstream_model
        ctx.provider = deployment.provider_name
        ctx.upstream_model = deployment.upstream_model
        ctx.deployment = deployment.name
        ctx.price = deployment.price
        ctx.attempts += 1
        headers = ctx.response_headers
        headers[DEPLOYMENT_HEADER] = deployment.name
        attempts = ctx.attempts
        headers[ATTEMPTS_HEADER] = _COUNTS[attempts] if attempts < len(_COUNTS) else str(attempts)

    def _unavailable(
        self, route: Route, opened: bool, capped: bool, wait: float | None, now: float
    ) -> PlugbayError:
        if wait is not None and not opened:
            return RateLimited(
                f"Every deployment of `{route.name}` asked to wait (Retry-After); retry in "
                f"{max(1, int(wait - now + 0.999))} s.",
                retry_after=wait - now,
                code="deployments_rate_limited",
            )
        if capped and not opened:
            return RateLimited(
                f"Every deployment of `{route.name}` is at its per-minute cap.",
                retry_after=60 - now % 60,
                code="deployments_capped",
            )
        reopen = [r for d in route.deployments if (r := d.breaker.reopens_at()) is not None]
        wait = max(1, int(min(reopen) - now + 0.999)) if reopen else 1
        return ServiceUnavailable(
            f"Every deployment of `{route.name}` is unavailable: their circuit breakers are "
            f"open after repeated failures. Retry in {wait} s.",
            code="deployments_unavailable",
            headers={"retry-after": str(wait)},
        )

    async def finished(self, ctx: RequestContext) -> None:
        """The request ended: free its slot; a stream that broke after it started counts
        against its deployment's breaker."""
        deployment: Deployment | None = ctx.extra.get(SERVED)
        if deployment is None:
            return
        stats = deployment.stats
        stats.in_flight -= 1
        usage = ctx.usage
        if deployment.tpm is not None and usage is not None:
            stats.count_tokens(usage.prompt_tokens + usage.completion_tokens, time.time())
        if ctx.stream and ctx.status >= 500:
            now = time.time()
            stats.failed(0.0, now)
            await deployment.breaker.failure(now)

    # --- reporting -----------------------------------------------------------------------------

    def view(self, routes: dict[str, Route]) -> dict[str, Any]:
        """Every deployment's state and figures, for ``/health/detailed``."""
        now = time.time()
        found: dict[str, Any] = {}
        for route in routes.values():
            for deployment in route.deployments:
                if deployment.name in found:
                    found[deployment.name]["models"].append(route.name)
                    continue
                view = deployment.stats.view(now)
                state = deployment.breaker.state(now)
                view["breaker"] = state
                view["state"] = {"closed": "healthy", "half_open": "degraded"}.get(state, "open")
                if view["state"] == "healthy" and deployment.stats.consecutive_errors >= 3:
                    view["state"] = "degraded"
                reopens = deployment.breaker.reopens_at()
                view["reopens_at"] = reopens if state != "closed" else None
                view["provider"] = deployment.provider_name
                view["upstream_model"] = deployment.upstream_model
                view["models"] = [route.name]
                found[deployment.name] = view
        return found
