"""The rate limiter the gateway asks before every upstream call, and settles with after.

Per request it works out which scopes apply (the key, the model, the key on the model) and
their limits -- a dict lookup once a (key, limits, model) combination was seen -- then makes
one check-and-charge call to the store. The token charge is an estimate
(:mod:`.estimate`), corrected from ``ctx.usage`` in :meth:`SlidingWindowLimiter.release`,
which the gateway calls when the answer (a stream: its last chunk) was sent.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from plugbay.errors import RateLimited
from plugbay_ratelimit.config import KeyLimits
from plugbay_ratelimit.estimate import estimate_tokens
from plugbay_ratelimit.window import Scope, digest

if TYPE_CHECKING:
    from plugbay.gateway import Gateway
    from plugbay.types import Principal, RequestContext
    from plugbay_ratelimit.config import RateLimitConfig
    from plugbay_ratelimit.stores import LimitStore
    from plugbay_ratelimit.window import Decision

__all__ = ["SlidingWindowLimiter", "format_duration"]

log = logging.getLogger("plugbay.ratelimit")

_EXTRA = "ratelimit"
_PLAN_CACHE_SIZE = 65536
_NO_LIMITS = KeyLimits()
_KIND_TEXT = {
    "requests": "requests per minute",
    "tokens": "tokens per minute",
    "parallel": "requests in flight",
}


def format_duration(seconds: float) -> str:
    """OpenAI's reset format: ``120ms`` below a second, else whole seconds rounded up:
    ``1s``, ``18s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = math.ceil(seconds)
    text = _DURATIONS.get(whole)
    if text is None:
        hours, rest = divmod(whole, 3600)
        minutes, secs = divmod(rest, 60)
        if hours:
            text = f"{hours}h{minutes}m{secs}s"
        elif minutes:
            text = f"{minutes}m{secs}s"
        else:
            text = f"{secs}s"
        if len(_DURATIONS) < 4096:
            _DURATIONS[whole] = text
    return text


_DURATIONS: dict[int, str] = {}


class _Plan:
    __slots__ = ("parallel", "scopes", "tokens")

    def __init__(self, scopes: tuple[Scope, ...]) -> None:
        self.scopes = scopes
        self.tokens = any(s.tpm is not None for s in scopes)
        self.parallel = any(s.parallel is not None for s in scopes)


class _Admitted:
    __slots__ = ("bucket", "estimate", "plan")

    def __init__(self, plan: _Plan, bucket: int, estimate: int) -> None:
        self.plan, self.bucket, self.estimate = plan, bucket, estimate


def _first(*values: int | None) -> int | None:
    for value in values:
        if value is not None:
            return value
    return None


class SlidingWindowLimiter:
    """Requests, tokens and in-flight limits per key, per model and per key on a model."""

    def __init__(self, config: RateLimitConfig, store: LimitStore) -> None:
        self.config = config
        self.store = store
        self._plans: dict[tuple[object, ...], _Plan] = {}
        self._default_key = config.keys.get("*")
        self._default_model = config.models.get("*")

    async def start(self, gateway: Gateway) -> None:
        await self.store.start()

    async def aclose(self) -> None:
        await self.store.aclose()

    # --- which limits apply ----------------------------------------------------------------

    def _plan(self, principal: Principal | None, model: str | None) -> _Plan:
        if principal is None:
            key_id, rpm, tpm, parallel = "", None, None, None
        else:
            key_id = principal.key_id or ""
            rpm, tpm, parallel = principal.rpm, principal.tpm, principal.max_parallel
        cache_key = (key_id, rpm, tpm, parallel, model)
        plan = self._plans.get(cache_key)
        if plan is None:
            plan = self._build_plan(key_id, rpm, tpm, parallel, model or "")
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[cache_key] = plan
        return plan

    def _build_plan(
        self, key_id: str, rpm: int | None, tpm: int | None, parallel: int | None, model: str
    ) -> _Plan:
        config = self.config
        own = config.keys.get(key_id) or _NO_LIMITS
        fallback = self._default_key or _NO_LIMITS
        rpm = _first(rpm, own.rpm, fallback.rpm)
        tpm = _first(tpm, own.tpm, fallback.tpm)
        parallel = _first(parallel, own.max_parallel, fallback.max_parallel)
        scopes = []
        if rpm is not None or tpm is not None or parallel is not None:
            name = f"key:{key_id}"
            scopes.append(Scope(name, digest(name), rpm, tpm, parallel))
        limits = config.models.get(model, self._default_model)
        if limits is not None:
            if limits.rpm is not None or limits.tpm is not None:
                name = f"model:{model}"
                scopes.append(Scope(name, digest(name), limits.rpm, limits.tpm, None))
            if limits.key_rpm is not None or limits.key_tpm is not None:
                name = f"key+model:{key_id}:{model}"
                scopes.append(Scope(name, digest(name), limits.key_rpm, limits.key_tpm, None))
        return _Plan(tuple(scopes))

    # --- the RateLimiter protocol ----------------------------------------------------------

    async def acquire(self, ctx: RequestContext) -> None:
        plan = self._plan(ctx.principal, ctx.model)
        if not plan.scopes:
            return
        estimate = 0
        if plan.tokens and ctx.request is not None:
            estimate = estimate_tokens(ctx.request, self.config.default_max_tokens)
        decision = await self.store.charge(plan.scopes, estimate)
        headers = ctx.response_headers
        _headers(decision, headers)
        if not decision.admitted:
            raise _refusal(decision, estimate, headers)
        ctx.extra[_EXTRA] = _Admitted(plan, decision.bucket, estimate)

    async def release(self, ctx: RequestContext) -> None:
        admitted: _Admitted | None = ctx.extra.pop(_EXTRA, None)
        if admitted is None:
            return
        usage = ctx.usage
        if usage is not None:
            actual = usage.total_tokens or (usage.prompt_tokens + usage.completion_tokens)
        elif ctx.first_chunk_at is None:
            actual = 0  # the upstream never answered: nothing was used
        else:
            actual = admitted.estimate  # answered without reporting usage: keep the estimate
        delta = actual - admitted.estimate if admitted.plan.tokens else 0
        if delta or admitted.plan.parallel:
            await self.store.settle(admitted.plan.scopes, admitted.bucket, delta)


def _headers(decision: Decision, headers: dict[str, str]) -> None:
    requests = decision.requests
    if requests is not None:
        limit, remaining, reset = requests
        headers["x-ratelimit-limit-requests"] = str(limit)
        headers["x-ratelimit-remaining-requests"] = str(max(0, remaining))
        headers["x-ratelimit-reset-requests"] = format_duration(reset)
    tokens = decision.tokens
    if tokens is not None:
        limit, remaining, reset = tokens
        headers["x-ratelimit-limit-tokens"] = str(limit)
        headers["x-ratelimit-remaining-tokens"] = str(max(0, remaining))
        headers["x-ratelimit-reset-tokens"] = format_duration(reset)


def _refusal(decision: Decision, estimate: int, headers: dict[str, str]) -> RateLimited:
    assert decision.refused is not None
    scope, kind, limit, used = decision.refused
    what = _KIND_TEXT[kind]
    retry = decision.retry_after
    if retry is None:
        message = (
            f"Request too large for {what} on {scope}: limit {limit}, requested {estimate} "
            "(the estimate counts the prompt and max_tokens). Lower max_tokens or the prompt."
        )
        retry = 60.0
    else:
        requested = estimate if kind == "tokens" else 1
        message = (
            f"Rate limit reached for {what} on {scope}: limit {limit}, used {used}, "
            f"requested {requested}. Please try again in {format_duration(retry)}."
        )
    extra = dict(headers)
    extra["retry-after-ms"] = str(max(1, round(retry * 1000)))
    return RateLimited(message, retry_after=retry, headers=extra)
