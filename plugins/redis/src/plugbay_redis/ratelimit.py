"""Rate-limit state in Redis: the same sliding window as the local stores, in one Lua script.

Each scope is a hash ``{prefix}:rl2:<scope>`` with fields ``r<second>`` and ``t<second>``
(requests and tokens charged in that second). One EVALSHA per decision reads every scope,
drops buckets older than the window, checks every limit and charges them all or none --
atomically, since Redis runs a script alone -- using the Redis server's clock, so gateway
nodes with skewed clocks still share one window. Keys expire a little after the window.

Slots (``max_parallel``) and budget reservations are leases of the worker holding them
(:mod:`.scripts` has the layout): each worker renews its leases' expiry every ``lease_ttl / 3``
seconds while it runs, and a worker whose expiry passed (it died, or lost Redis for that long)
is reclaimed by the next charge on that key. Settling is idempotent, so a call that timed out
is simply sent again with the next renewal.

When Redis fails or is slower than ``[redis] timeout``, ``on_error = "open"`` admits the
request (nothing is charged; a warning is logged) and ``"closed"`` refuses it with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from plugbay import ServiceUnavailable
from plugbay_ratelimit.window import SLOT, Decision, Hold, Scope
from plugbay_redis.config import WarnOnce, connect, health, load_config
from plugbay_redis.scripts import CHARGE, HEARTBEAT, RECORDED, RETIRE, SETTLE

if TYPE_CHECKING:
    from plugbay import Settings
    from plugbay_ratelimit.config import RateLimitConfig

__all__ = ["RedisLimitStore"]

log = logging.getLogger("plugbay.redis")

_KINDS = {1: "requests", 2: "tokens", 3: "parallel", 4: "budget"}
_PENDING = 10_000
"""Settlements kept for a retry while Redis fails; beyond this the oldest are dropped (their
leases expire when this worker stops renewing them, or when it exits)."""
_RETRIES = 5
"""Renewals a release after a failed charge is sent again with (the charge may have run)."""


def _limit(value: int | None) -> int:
    return -1 if value is None else value


def _info(limit: int, remaining: int, reset_ms: int) -> tuple[int, int, float] | None:
    return None if limit < 0 else (limit, max(0, remaining), reset_ms / 1000)


class _Retry:
    """A settlement to send again: ``tries`` times (a charge that failed may yet run on the
    server, so its release is repeated), holding a lease of ours there if ``owned``."""

    __slots__ = ("args", "names", "owned", "recorded", "tries")

    def __init__(
        self,
        names: list[str],
        args: list[Any],
        *,
        recorded: bool = False,
        tries: int = 1,
        owned: bool = False,
    ) -> None:
        self.names, self.args, self.recorded = names, args, recorded
        self.tries, self.owned = tries, owned


class RedisLimitStore:
    """A :class:`plugbay_ratelimit.stores.LimitStore` in Redis, shared by every node."""

    def __init__(self, settings: Settings, config: RateLimitConfig | None = None) -> None:
        self.config = load_config(settings)
        self.prefix = "{" + self.config.prefix + "}:rl2:"  # layout 2: holders and leases
        self.lease_prefix = "{" + self.config.prefix + "}:rl2l:"
        self.client: Any = None
        self.holder = os.urandom(6).hex()
        self.ttl_ms = max(1, round(self.config.lease_ttl * 1000))
        self._warn = WarnOnce(log)
        self._count = 0
        self._live: dict[str, int] = {}  # scope -> our leases there
        self._kept: set[str] = set()  # scopes where we keep money (keys outside the registry)
        self._pending: list[_Retry] = []
        self._renewer: asyncio.Task[None] | None = None

    async def health(self) -> dict[str, Any]:
        return await health(self.client)

    async def start(self) -> None:
        self.client = connect(self.config)
        self._charge = self.client.register_script(CHARGE)
        self._settle = self.client.register_script(SETTLE)
        self._recorded = self.client.register_script(RECORDED)
        self._heartbeat = self.client.register_script(HEARTBEAT)
        self._retire = self.client.register_script(RETIRE)
        self._renewer = asyncio.create_task(self._renew_forever(), name="plugbay-redis-leases")

    async def aclose(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        if self.client is not None:
            held = sorted({*self._live, *self._kept})
            if held:  # leave nothing to wait out; if this fails, the leases expire anyway
                try:
                    async with asyncio.timeout(self.config.timeout * 2):
                        await self._retire(keys=self._pairs(held), args=[self.holder])
                except Exception as exc:
                    self._warn("Redis lease cleanup failed (%s: %s)", type(exc).__name__, exc)
            await self.client.aclose()
            self.client = None

    def _keys(self, scopes: Sequence[Scope]) -> list[str]:
        prefix = self.prefix
        return [prefix + scope.name for scope in scopes]

    def _pairs(self, names: Sequence[str]) -> list[str]:
        keys: list[str] = []
        for name in names:
            keys += (self.prefix + name, self.lease_prefix + name)
        return keys

    def _held(self, name: str, change: int) -> None:
        count = self._live.get(name, 0) + change
        if count > 0:
            self._live[name] = count
        else:
            self._live.pop(name, None)

    async def charge(
        self, scopes: Sequence[Scope], tokens: int, hold: Hold | None = None
    ) -> Decision:
        if hold is None and scopes and scopes[0].parallel is not None:
            hold = SLOT
        keys = self._keys(scopes)
        args: list[Any] = [tokens, len(scopes)]
        for scope in scopes:
            args += (_limit(scope.rpm), _limit(scope.tpm), _limit(scope.parallel))
        lease = None
        if hold is not None:
            self._count += 1
            lease = f"{self.holder}.{self._count:x}"
            cost = hold.cost if hold.budget >= 0 else 0
            args += (self.holder, lease, self.ttl_ms, int(hold.slot), hold.budget)
            args += (hold.spent, cost)
            keys.append(self.lease_prefix + scopes[0].name)
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                out = await self._charge(keys=keys, args=args)
        except BaseException as exc:
            if lease is not None:  # it may have run: give the lease back, whatever happened
                self._held(scopes[0].name, 1)
                args = [-1, 0, 1, self.holder, lease, 0, self.ttl_ms]
                self._retry(_Retry([scopes[0].name], args, tries=_RETRIES, owned=True))
            if not isinstance(exc, Exception):
                raise
            return self._failed(exc)
        admitted, cur = bool(out[0]), int(out[1])
        requests = _info(int(out[2]), int(out[3]), int(out[4]))
        tokens_info = _info(int(out[5]), int(out[6]), int(out[7]))
        if admitted:
            if lease is not None:
                self._held(scopes[0].name, 1)
            return Decision(True, cur, requests, tokens_info, lease=lease)
        index, kind, limit, used, retry_ms = (int(v) for v in out[8:13])
        refused = (scopes[index - 1].name, _KINDS[kind], limit, used)
        retry = None if retry_ms < 0 else retry_ms / 1000
        return Decision(False, cur, requests, tokens_info, refused, retry)

    def _failed(self, exc: Exception) -> Decision:
        self._warn(
            "Redis rate limiting failed (%s: %s); failing %s",
            type(exc).__name__,
            exc,
            self.config.on_error,
        )
        if self.config.on_error == "closed":
            raise ServiceUnavailable(
                "Rate limiting is unavailable; please try again shortly.",
                code="rate_limiter_unavailable",
            ) from exc
        return Decision(True, -1, None, None)  # bucket -1: nothing was charged

    async def settle(
        self, scopes: Sequence[Scope], bucket: int, delta: int, lease: Any = None, cost: int = 0
    ) -> Any:
        if bucket < 0 or (not delta and lease is None):
            return None
        keys = self._keys(scopes)
        args: list[Any] = [bucket, delta, len(scopes)]
        if lease is not None:
            keys.append(self.lease_prefix + scopes[0].name)
            args += (self.holder, lease, cost, self.ttl_ms)
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                await self._settle(keys=keys, args=args)
        except BaseException as exc:
            if lease is not None:  # settling is idempotent: send it again with the renewal
                args = [-1, 0, 1, self.holder, lease, cost, self.ttl_ms]
                self._retry(_Retry([scopes[0].name], args))
            if not isinstance(exc, Exception):
                raise
            self._warn("Redis rate-limit settling failed (%s: %s)", type(exc).__name__, exc)
        if lease is None:
            return None
        if cost > 0:
            return (scopes[0].name, lease, cost)
        self._held(scopes[0].name, -1)
        return None

    async def recorded(
        self,
        receipts: Sequence[Any],
        kept: Sequence[Any],
        baselines: Sequence[tuple[Scope, int]],
    ) -> None:
        by_key: dict[str, tuple[list[Any], list[Any], int]] = {}
        for scope, spend in baselines:
            by_key[scope.name] = ([], [], spend)
        for items, kept_money in ((receipts, False), (kept, True)):
            for name, lease, cost in items:
                done, keep, _ = by_key.setdefault(name, ([], [], -1))
                (keep if kept_money else done).append((lease, cost))
        if not by_key:
            return
        names = list(by_key)
        args: list[Any] = [self.holder, self.ttl_ms]
        for name in names:
            done, keep, spend = by_key[name]
            args += (spend, len(done), len(keep))
            for lease, cost in (*done, *keep):
                args += (lease, cost)
        try:
            async with asyncio.timeout(self.config.timeout * 2):
                await self._recorded(keys=self._pairs(names), args=args)
        except BaseException as exc:
            self._retry(_Retry(names, args, recorded=True))
            if not isinstance(exc, Exception):
                raise
            self._warn("Redis rate-limit recording failed (%s: %s)", type(exc).__name__, exc)
        for name in names:
            done, keep, _spend = by_key[name]
            if done or keep:
                self._held(name, -len(done) - len(keep))
            if keep:
                self._kept.add(name)

    # --- renewal -------------------------------------------------------------------------------

    def _retry(self, retry: _Retry) -> None:
        if len(self._pending) >= _PENDING:
            self._done(self._pending.pop(0))
        self._pending.append(retry)

    def _done(self, retry: _Retry) -> None:
        if retry.owned:
            self._held(retry.names[0], -1)

    async def _renew_forever(self) -> None:
        interval = self.config.lease_ttl / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew()
            except Exception as exc:
                self._warn("Redis lease renewal failed (%s: %s)", type(exc).__name__, exc)

    async def renew(self) -> None:
        """Push this worker's leases' expiry on, and send again what failed to settle."""
        pending, self._pending = self._pending, []
        for index, retry in enumerate(pending):
            try:
                async with asyncio.timeout(self.config.timeout * 2):
                    if retry.recorded:
                        await self._recorded(keys=self._pairs(retry.names), args=retry.args)
                    else:
                        name = retry.names[0]
                        keys = [self.prefix + name, self.lease_prefix + name]
                        await self._settle(keys=keys, args=retry.args)
            except Exception:
                self._pending[:0] = pending[index:]
                raise
            retry.tries -= 1
            if retry.tries > 0:
                self._pending.append(retry)
            else:
                self._done(retry)
        held = sorted({*self._live, *self._kept})
        for start in range(0, len(held), 500):
            async with asyncio.timeout(self.config.timeout * 2):
                keys = self._pairs(held[start : start + 500])
                await self._heartbeat(keys=keys, args=[self.holder, self.ttl_ms])
