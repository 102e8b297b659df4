"""The rate limiter the gateway asks before every upstream call, and settles with after.

Per request it works out which scopes apply (the key, the model, the key on the model) and
their limits -- a dict lookup once a (key, limits, model) combination was seen -- then makes
one check-and-charge call to the store. The token charge is an estimate
(:mod:`.estimate`), corrected from ``ctx.usage`` in :meth:`SlidingWindowLimiter.release`,
which the gateway calls when the answer (a stream: its last chunk) was sent.

Budgets ride on the same call. A key with a ``max_budget``, asking a priced model, reserves
the request's worst case (:meth:`SlidingWindowLimiter.worst_case`) in the key's record; the
store admits it only if the key's spend, what its requests in flight reserved, the real cost
of its finished requests the registry has not recorded yet and this worst case together fit
the budget. ``release`` turns the reservation into the real cost (``ctx.cost_usd``), which
counts as unrecorded until the gateway reports the usage written (``usage_recorded``): from
then on the registry's spend holds it. Nothing is counted twice, nothing is missed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugbay import ChatRequest, RateLimited, default_output_limit
from plugbay import cost as _cost
from plugbay.schemas import Usage
from plugbay_ratelimit.config import KeyLimits
from plugbay_ratelimit.estimate import estimate_tokens, prompt_bound
from plugbay_ratelimit.layout import NANOS, nanos
from plugbay_ratelimit.window import SLOT, Hold, Scope, digest

if TYPE_CHECKING:
    from plugbay import EmbeddingsRequest, GatewayView, Principal, RecordedUsage, RequestContext
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
    __slots__ = ("budget", "parallel", "scopes", "tokens")

    def __init__(self, scopes: tuple[Scope, ...], budget: bool) -> None:
        self.scopes = scopes
        self.tokens = any(s.tpm is not None for s in scopes)
        self.parallel = bool(scopes) and scopes[0].parallel is not None  # the key's scope
        self.budget = budget


class _Admitted:
    __slots__ = ("bucket", "estimate", "lease", "money", "plan")

    def __init__(self, plan: _Plan, bucket: int, estimate: int, lease: Any, money: bool) -> None:
        self.plan, self.bucket, self.estimate = plan, bucket, estimate
        self.lease, self.money = lease, money


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
        self._gateway: GatewayView | None = None
        self._outputs: dict[tuple[str, str], int] = {}
        self._key_scopes: dict[str, Scope] = {}  # keys with a budget, seen by this worker
        self._unrecorded: dict[str, list[tuple[str | None, Any]]] = {}  # request id -> receipts
        # the in-process stores decide without waiting: called directly, no coroutine each
        self._charge_now: Callable[..., Decision] | None = getattr(store, "charge_now", None)
        self._settle_now: Callable[..., Any] | None = getattr(store, "settle_now", None)

    async def health(self) -> dict[str, Any]:
        """For ``GET /health/detailed``: the store's own report (Redis: a PING), if it has one."""
        check = getattr(self.store, "health", None)
        if check is None:
            return {"status": "ok", "store": type(self.store).__name__}
        report: dict[str, Any] = await check()
        return report

    async def start(self, gateway: GatewayView) -> None:
        self._gateway = gateway
        await self.store.start()

    async def aclose(self) -> None:
        await self.store.aclose()

    # --- which limits apply ----------------------------------------------------------------

    def _plan(self, principal: Principal | None, model: str | None) -> _Plan:
        if principal is None:
            key_id, rpm, tpm, parallel, budget = "", None, None, None, False
        else:
            key_id = principal.key_id or ""
            rpm, tpm, parallel = principal.rpm, principal.tpm, principal.max_parallel
            budget = principal.max_budget is not None
        cache_key = (key_id, rpm, tpm, parallel, budget, model)
        plan = self._plans.get(cache_key)
        if plan is None:
            plan = self._build_plan(key_id, rpm, tpm, parallel, budget, model or "")
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[cache_key] = plan
        return plan

    def _build_plan(
        self,
        key_id: str,
        rpm: int | None,
        tpm: int | None,
        parallel: int | None,
        budget: bool,
        model: str,
    ) -> _Plan:
        config = self.config
        own = config.keys.get(key_id) or _NO_LIMITS
        fallback = self._default_key or _NO_LIMITS
        rpm = _first(rpm, own.rpm, fallback.rpm)
        tpm = _first(tpm, own.tpm, fallback.tpm)
        parallel = _first(parallel, own.max_parallel, fallback.max_parallel)
        scopes = []
        if rpm is not None or tpm is not None or parallel is not None or budget:
            name = f"key:{key_id}"
            scopes.append(Scope(name, digest(name), rpm, tpm, parallel))
            if budget:
                self._key_scopes[key_id] = scopes[0]
        limits = config.models.get(model, self._default_model)
        if limits is not None:
            if limits.rpm is not None or limits.tpm is not None:
                name = f"model:{model}"
                scopes.append(Scope(name, digest(name), limits.rpm, limits.tpm, None))
            if limits.key_rpm is not None or limits.key_tpm is not None:
                name = f"key+model:{key_id}:{model}"
                scopes.append(Scope(name, digest(name), limits.key_rpm, limits.key_tpm, None))
        return _Plan(tuple(scopes), budget)

    # --- budgets ---------------------------------------------------------------------------

    def output_limit(self, model: str, upstream_model: str) -> int:
        """Completion tokens reserved for a request to ``model`` that sets no limit."""
        found = self._outputs.get((model, upstream_model))
        if found is None:
            limits = self.config.models.get(model, self._default_model)
            found = limits.max_output_tokens if limits is not None else None
            if found is None:
                found = default_output_limit(upstream_model)
            if found is None:
                found = self.config.max_output_tokens
            self._outputs[(model, upstream_model)] = found
        return found

    def worst_case(self, ctx: RequestContext, request: ChatRequest | EmbeddingsRequest) -> int:
        """The most ``request`` can cost, in USD nanos; -1 when the model has no price.

        The prompt's bound (:func:`.estimate.prompt_bound`) at the input price plus
        ``max_completion_tokens``/``max_tokens`` (else the model's output limit) times ``n``
        at the output price: what the gateway would record if the upstream used it all.
        """
        gateway, model = self._gateway, ctx.model
        price = gateway.price_of(model) if gateway is not None and model is not None else None
        if price is None or not price.complete:
            return -1
        completion = 0
        if isinstance(request, ChatRequest):
            params = request.params
            limit = params.max_output_tokens
            if limit is None:
                limit = self.output_limit(model or "", request.upstream_model)
            completion = limit * (params.n or 1)
        prompt = prompt_bound(request)
        usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
        return nanos(_cost(usage, price) or 0.0)

    async def usage_recorded(self, gateway: GatewayView, batch: RecordedUsage) -> None:
        """The registry holds these requests' usage now: their cost leaves the unrecorded
        spend (it is in the registry's spend, which ``batch.spend`` tells the store)."""
        pending = self._unrecorded
        done: list[Any] = []
        kept: list[Any] = []
        if pending:
            spend = batch.spend
            for request_id, _key_id in batch.requests:
                receipts = pending.get(request_id)
                if receipts is None:
                    continue
                key_id, receipt = receipts.pop(0)
                if not receipts:
                    del pending[request_id]
                (done if key_id in spend else kept).append(receipt)
        scopes = self._key_scopes
        baselines = [
            (scopes[key_id], nanos(value))
            for key_id, value in batch.spend.items()
            if key_id in scopes
        ]
        if done or kept or baselines:
            await self.store.recorded(done, kept, baselines)

    # --- the RateLimiter protocol ----------------------------------------------------------

    async def acquire(self, ctx: RequestContext) -> None:
        plan = self._plan(ctx.principal, ctx.model)
        if not plan.scopes:
            return
        request = ctx.request
        estimate = 0
        if plan.tokens and request is not None:
            estimate = estimate_tokens(request, self.config.default_max_tokens)
        hold = SLOT if plan.parallel else None
        if plan.budget and request is not None:
            worst = self.worst_case(ctx, request)
            principal = ctx.principal
            if worst >= 0 and principal is not None and principal.max_budget is not None:
                budget, spent = nanos(principal.max_budget), nanos(principal.spend)
                hold = Hold(plan.parallel, budget, spent, worst)
        charge_now = self._charge_now
        if charge_now is not None:
            decision = charge_now(plan.scopes, estimate, hold)
        else:
            decision = await self.store.charge(plan.scopes, estimate, hold)
        headers = ctx.response_headers
        _headers(decision, headers)
        if not decision.admitted:
            raise _refusal(decision, estimate, hold, headers)
        money = hold is not None and hold.budget >= 0 and decision.lease is not None
        ctx.extra[_EXTRA] = _Admitted(plan, decision.bucket, estimate, decision.lease, money)

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
        lease = admitted.lease
        settle_now = self._settle_now
        if lease is None:
            if delta:
                if settle_now is not None:
                    settle_now(admitted.plan.scopes, admitted.bucket, delta)
                else:
                    await self.store.settle(admitted.plan.scopes, admitted.bucket, delta)
            return
        cost = 0
        if admitted.money:
            ctx.spend_settled = True
            if ctx.cost_usd:
                cost = nanos(ctx.cost_usd)
        scopes, bucket = admitted.plan.scopes, admitted.bucket
        if settle_now is not None:
            receipt = settle_now(scopes, bucket, delta, lease, cost)
        else:
            receipt = await self.store.settle(scopes, bucket, delta, lease, cost)
        if receipt is not None:
            principal = ctx.principal
            key_id = principal.key_id if principal is not None else None
            self._unrecorded.setdefault(ctx.request_id, []).append((key_id, receipt))


def _headers(decision: Decision, headers: dict[str, str]) -> None:
    requests = decision.requests
    if requests is not None:
        limit, remaining, reset = requests
        headers["x-ratelimit-limit-requests"] = str(limit)
        headers["x-ratelimit-remaining-requests"] = str(remaining if remaining > 0 else 0)
        headers["x-ratelimit-reset-requests"] = format_duration(reset)
    tokens = decision.tokens
    if tokens is not None:
        limit, remaining, reset = tokens
        headers["x-ratelimit-limit-tokens"] = str(limit)
        headers["x-ratelimit-remaining-tokens"] = str(remaining if remaining > 0 else 0)
        headers["x-ratelimit-reset-tokens"] = format_duration(reset)


def _usd(amount: int) -> str:
    return f"${amount / NANOS:.4f}"


def _refusal(
    decision: Decision, estimate: int, hold: Hold | None, headers: dict[str, str]
) -> RateLimited:
    assert decision.refused is not None
    scope, kind, limit, used = decision.refused
    retry = decision.retry_after
    if kind == "budget":
        cost = hold.cost if hold is not None else 0
        message = (
            f"This key's budget ({_usd(limit)}) cannot cover this request: spent and "
            f"reserved by requests in flight {_usd(used)}, this request may cost up to "
            f"{_usd(cost)} (its prompt and max_tokens at the model's price)."
        )
        extra = dict(headers)
        if retry is None:
            extra["x-should-retry"] = "false"
        else:
            message += " Lower max_tokens, or try again once requests in flight have finished."
            extra["retry-after-ms"] = str(max(1, round(retry * 1000)))
        return RateLimited(message, retry_after=retry, code="budget_exceeded", headers=extra)
    if kind == "leases":
        message = (
            f"This gateway worker has {limit} requests holding slots or budget at once; "
            "please try again shortly."
        )
        extra = dict(headers)
        extra["retry-after-ms"] = "1000"
        return RateLimited(message, retry_after=1.0, headers=extra)
    what = _KIND_TEXT[kind]
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
