"""The one decision primitive: an atomic check-and-charge over sliding one-minute windows.

Why a bucketed sliding window and not GCRA: the guarantee promised is "no more than L
admitted in *any* minute". GCRA with a burst of L (needed so that L concurrent requests
pass at once) refills continuously and admits up to 2L - 1 in a 60 s span; GCRA with no
burst would refuse the concurrent burst. A fixed window admits 2L across its boundary.

Each limited thing (a key, a model, a key on a model) has a *record*: 61 one-second
buckets of requests and of tokens, and an in-flight counter. A decision at second ``cur``
counts buckets ``cur - 60 .. cur``: every admission of the last 60 seconds is seen (so at
most L in any 60 s interval), at the price of holding a charge up to one second longer
than strictly needed. Checking and charging every record of a request happens in one
step, all or nothing.

Records live in a flat buffer of int64 (:class:`Table`): an anonymous mmap for one
process, a shared file mmap under an ``fcntl`` lock for several (see ``stores.py``); the
same code serves both. Records are found by a 128-bit hash of their name with bounded
linear probing; a record idle for a minute with nothing in flight is reused.

A key's record also holds what its requests in flight hold (:class:`Hold`): slots counted
against ``max_parallel``, and money -- the worst-case cost reserved by requests in flight, the
real cost of finished requests whose usage the registry has not recorded yet, and the spend
the registry last reported. Each of those is a lease of one process (:mod:`.leases`), so a
process that dies gives everything back.
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Sequence
from typing import Any, NamedTuple

from plugbay_ratelimit.layout import (
    BASELINE,
    BASELINE_TTL_MS,
    BASELINE_UNTIL,
    HEADER,
    INFLIGHT,
    LAST,
    MAGIC,
    RECORD,
    REQ,
    RESERVED,
    RING,
    RSUM,
    TOK,
    TSUM,
    UNRECORDED,
    WINDOW,
)
from plugbay_ratelimit.leases import Ledger, Receipt

__all__ = [
    "HEADER",
    "MAGIC",
    "RECORD",
    "RING",
    "WINDOW",
    "Decision",
    "Hold",
    "Scope",
    "Table",
    "digest",
]

log = logging.getLogger("plugbay.ratelimit")

PROBE = 16
"""Records looked at for one name before the least recently used one is taken over."""

_unpack = struct.Struct("<qq").unpack


def digest(name: str) -> tuple[int, int]:
    """A record's 128-bit identity, as two int64."""
    d0, d1 = _unpack(hashlib.blake2b(name.encode(), digest_size=16).digest())
    return (d0, d1) if (d0 or d1) else (0, 1)  # (0, 0) marks an empty record


class Scope(NamedTuple):
    """One limited thing and its limits for this request (``None``: not limited)."""

    name: str
    """Readable name, ``key:<id>``, ``model:<name>`` or ``key+model:<id>:<name>``."""
    digest: tuple[int, int]
    rpm: int | None
    tpm: int | None
    parallel: int | None


class Hold(NamedTuple):
    """What an admitted request holds on its key -- the first scope charged -- until it ends.

    ``slot``: it is one of the key's ``parallel`` requests in flight. ``budget`` (USD nanos,
    ``-1``: none): it reserves ``cost``, its worst case, and is admitted only if the key's
    spend (the larger of ``spent``, what the authenticator reported, and what the registry
    last said), plus what requests in flight reserved, plus the real cost of finished requests
    not yet recorded, plus ``cost`` is at most ``budget``.
    """

    slot: bool
    budget: int = -1
    spent: int = 0
    cost: int = 0


SLOT = Hold(True)


class Decision:
    """The answer to a check-and-charge.

    ``requests`` and ``tokens`` are ``(limit, remaining, reset_seconds)`` of the tightest
    limit of that kind, or ``None`` when no limit of that kind applies. A refusal names the
    scope and kind (``requests``, ``tokens``, ``parallel``, ``budget`` -- limit and used in
    USD nanos -- or ``leases``: the process holds as many as it can) and when to retry
    (``None``: never, the request alone exceeds the limit). An admitted request with a
    :class:`Hold` has a ``lease`` to give back when it ends (``store.settle``).
    """

    __slots__ = ("admitted", "bucket", "lease", "refused", "requests", "retry_after", "tokens")

    def __init__(
        self,
        admitted: bool,
        bucket: int,
        requests: tuple[int, int, float] | None,
        tokens: tuple[int, int, float] | None,
        refused: tuple[str, str, int, int] | None = None,
        retry_after: float | None = None,
        lease: Any = None,
    ) -> None:
        self.admitted = admitted
        self.bucket = bucket
        self.requests = requests
        self.tokens = tokens
        self.refused = refused  # (scope name, kind, limit, used)
        self.retry_after = retry_after
        self.lease = lease


class Table:
    """Records (and the leases on them) in a buffer of int64; callers hold whatever lock the
    buffer needs. ``ledger`` keeps the leases, for one holder at a time."""

    def __init__(self, buffer: memoryview, slots: int, holders: int = 1, leases: int = 0) -> None:
        self.q = buffer.cast("q") if buffer.format != "q" else buffer
        self.slots = slots
        self.ledger = Ledger(self.q, HEADER + slots * RECORD, holders, leases)
        self._at: dict[tuple[int, int], int] = {}  # digest -> where its record was last seen

    def init_header(self) -> None:
        q = self.q
        q[0], q[1], q[2], q[3] = MAGIC, 1, self.slots, RECORD
        q[4], q[5] = self.ledger.holders, self.ledger.leases

    @staticmethod
    def size(slots: int, holders: int = 1, leases: int = 0) -> int:
        return (HEADER + slots * RECORD) * 8 + Ledger.size(holders, leases)

    # --- records ---------------------------------------------------------------------------

    def _find(self, d0: int, d1: int, cur: int) -> int:
        q, slots = self.q, self.slots
        start = d0 % slots
        free = -1
        oldest, oldest_last = -1, 0
        for i in range(PROBE):
            off = HEADER + ((start + i) % slots) * RECORD
            a, b = q[off], q[off + 1]
            if a == d0 and b == d1:
                return off
            if a == 0 and b == 0:  # never used: the name is not further along
                if free < 0:
                    free = off
                break
            if free < 0:
                last = q[off + LAST]
                if cur - last > WINDOW and not (
                    q[off + INFLIGHT] > 0 or q[off + RESERVED] > 0 or q[off + UNRECORDED] > 0
                ):
                    free = off
                elif oldest < 0 or last < oldest_last:
                    oldest, oldest_last = off, last
        if free < 0:  # every record in reach is live: take over the least recently used
            log.warning("rate-limit table is full; raise [ratelimit] slots (now %d)", slots)
            free = oldest
        off = free
        q[off] = d0
        q[off + 1] = d1
        q[off + LAST] = cur
        q[off + INFLIGHT] = 0
        for k in range(REQ, RECORD):
            q[off + k] = 0
        return off

    def _record(self, digest: tuple[int, int], cur: int) -> int:
        """:meth:`_find` with a memo: a record stays where it is until it is taken over, so
        the place it was last seen holds it while that still carries its hash (the hash of a
        name is in one record only). Another process may have moved it: then it is looked
        for again."""
        q = self.q
        off = self._at.get(digest, -1)
        if off < 0 or q[off] != digest[0] or q[off + 1] != digest[1]:
            off = self._find(digest[0], digest[1], cur)
            at = self._at
            if len(at) >= self.slots:
                at.clear()
            at[digest] = off
        return off

    def _lookup(self, d0: int, d1: int) -> int:
        """The record of a name, or -1 (nothing is created)."""
        q, slots = self.q, self.slots
        start = d0 % slots
        for i in range(PROBE):
            off = HEADER + ((start + i) % slots) * RECORD
            a, b = q[off], q[off + 1]
            if a == d0 and b == d1:
                return off
            if a == 0 and b == 0:
                break
        return -1

    def _roll(self, off: int, cur: int) -> int:
        """Empty the buckets that left the window; return the record's current bucket."""
        q = self.q
        last = q[off + LAST]
        if cur <= last:  # another process's clock is a hair ahead
            return last
        if cur - last >= RING:
            for k in range(REQ, TSUM + 1):  # the rings and their totals; money stays
                q[off + k] = 0
        else:
            for b in range(last + 1, cur + 1):
                slot = b % RING
                q[off + RSUM] -= q[off + REQ + slot]
                q[off + TSUM] -= q[off + TOK + slot]
                q[off + REQ + slot] = 0
                q[off + TOK + slot] = 0
        q[off + LAST] = cur
        return cur

    def _reset(self, base: int, cur: int, now: float) -> float:
        """Seconds until everything counted in this ring has left the window."""
        q = self.q
        for b in range(cur, cur - RING, -1):
            if q[base + b % RING]:
                return max(0.0, b + RING - now)
        return 0.0

    def _retry(self, base: int, cur: int, need: int, now: float) -> float:
        """Seconds until ``need`` units have left the window."""
        q = self.q
        freed = 0
        for b in range(cur - WINDOW, cur + 1):
            freed += q[base + b % RING]
            if freed >= need:
                return max(0.0, b + RING - now)
        return float(RING)

    # --- the primitive ---------------------------------------------------------------------

    def charge(
        self, scopes: Sequence[Scope], tokens: int, now: float, hold: Hold | None = None
    ) -> Decision:
        """Check every limit of every scope; if all hold, charge them all.

        ``hold`` applies to ``scopes[0]`` (the key), the only scope ``parallel`` is counted
        on; a first scope with ``parallel`` and no hold holds a slot. The answer describes the
        tightest requests and tokens limits also on a refusal.
        """
        q = self.q
        cur = int(now)
        if hold is None and scopes and scopes[0].parallel is not None:
            hold = SLOT
        found: list[tuple[int, int]] = []  # (record, bucket) per scope
        refused: tuple[Scope, str, int, int, int, int] | None = None  # scope, kind, limit...
        req_best: tuple[int, int, int, int, int] | None = None  # (left, limit, used, base, b)
        tok_best: tuple[int, int, int, int, int] | None = None
        never = False  # a budget refusal that waiting cannot cure
        at = self._at
        for scope in scopes:
            d = scope.digest
            off = at.get(d, -1)  # _record, inline: this runs for every scope of every request
            if off < 0 or q[off] != d[0] or q[off + 1] != d[1]:
                off = self._record(d, cur)
            bucket = q[off + LAST]
            if cur > bucket:
                bucket = self._roll(off, cur)
            if hold is not None and not found and refused is None:
                refused, never = self._check_hold(scope, off, bucket, hold, now)
            found.append((off, bucket))
            rpm, tpm = scope.rpm, scope.tpm
            if rpm is not None:
                base = off + REQ
                used = q[off + RSUM]
                left = rpm - used - 1
                if req_best is None or left < req_best[0]:
                    req_best = (left, rpm, used, base, bucket)
                if left < 0 and refused is None:
                    refused = (scope, "requests", rpm, used, base, bucket)
            if tpm is not None:
                base = off + TOK
                used = q[off + TSUM]
                left = tpm - used - tokens
                if tok_best is None or left < tok_best[0]:
                    tok_best = (left, tpm, used, base, bucket)
                if left < 0 and refused is None:
                    refused = (scope, "tokens", tpm, used, base, bucket)
        lease = None
        if refused is None:
            for off, bucket in found:
                slot = bucket % RING
                q[off + REQ + slot] += 1
                q[off + TOK + slot] += tokens
                q[off + RSUM] += 1
                q[off + TSUM] += tokens
            if hold is not None:
                cost = hold.cost if hold.budget >= 0 else 0
                lease = self.ledger.open(found[0][0], hold.slot, cost)
        admitted = refused is None
        requests = tokens_info = None
        if req_best is not None:
            left, limit, used, base, bucket = req_best
            remaining = left if admitted else limit - used
            # _reset, whose first look (the current bucket) is nearly always the answer
            reset = (
                bucket + RING - now if q[base + bucket % RING] else self._reset(base, bucket, now)
            )
            requests = (limit, remaining if remaining > 0 else 0, reset if reset > 0.0 else 0.0)
        if tok_best is not None:
            left, limit, used, base, bucket = tok_best
            remaining = left if admitted else limit - used
            reset = (
                bucket + RING - now if q[base + bucket % RING] else self._reset(base, bucket, now)
            )
            tokens_info = (limit, remaining if remaining > 0 else 0, reset if reset > 0.0 else 0.0)
        if refused is None:
            return Decision(True, cur, requests, tokens_info, lease=lease)
        scope, kind, limit, used, base, bucket = refused
        cost = tokens if kind == "tokens" else 1
        if kind in ("parallel", "leases"):
            retry: float | None = 1.0  # unknowable: when one of them ends
        elif kind == "budget":
            retry = None if never else 1.0
        elif cost > limit:
            retry = None
        else:
            retry = self._retry(base, bucket, used + cost - limit, now)
        return Decision(False, cur, requests, tokens_info, (scope.name, kind, limit, used), retry)

    def _check_hold(
        self, scope: Scope, off: int, bucket: int, hold: Hold, now: float
    ) -> tuple[tuple[Scope, str, int, int, int, int] | None, bool]:
        """The refusal ``hold`` meets on the key's record, if any, and whether it is final."""
        q = self.q
        if not self.ledger.room():
            leases = self.ledger.leases
            return (scope, "leases", leases, leases, -1, bucket), False
        parallel = scope.parallel
        if hold.slot and parallel is not None:
            inflight = q[off + INFLIGHT]
            if inflight + 1 > parallel:
                return (scope, "parallel", parallel, inflight, -1, bucket), False
        if hold.budget >= 0:
            spent = hold.spent
            if q[off + BASELINE_UNTIL] > now * 1000 and q[off + BASELINE] > spent:
                spent = q[off + BASELINE]
            spent += q[off + UNRECORDED]  # spent, if not recorded yet
            used = spent + q[off + RESERVED]
            if used + hold.cost > hold.budget:
                # final unless what requests in flight reserved would make room
                final = spent + hold.cost > hold.budget
                return (scope, "budget", hold.budget, used, -1, bucket), final
        return None, False

    def settle(
        self,
        scopes: Sequence[Scope],
        bucket: int,
        delta: int,
        now: float,
        lease: int | None = None,
        cost: int = 0,
    ) -> Receipt | None:
        """After the request: correct its token charge by ``delta``; end its lease.

        The correction goes to the bucket charged, while that is still in the window (a
        refund never reaches back further); a late extra charge goes to the current one.
        Ending the lease gives back its slot and reservation; ``cost`` (USD nanos, the real
        cost) then counts as unrecorded until :meth:`recorded` is given the receipt returned.
        """
        q = self.q
        cur = int(now)
        if delta:
            at = self._at
            for scope in scopes:
                d = scope.digest
                off = at.get(d, -1)
                if off < 0 or q[off] != d[0] or q[off + 1] != d[1]:
                    off = self._record(d, cur)
                current = q[off + LAST]
                if cur > current:
                    current = self._roll(off, cur)
                if current - bucket <= WINDOW:
                    index = off + TOK + bucket % RING
                    old = q[index]
                    new = old + delta
                    if new < 0:
                        new = 0
                    q[index] = new
                    q[off + TSUM] += new - old
                elif delta > 0:
                    q[off + TOK + current % RING] += delta
                    q[off + TSUM] += delta
        if lease is None:
            return None
        return self.ledger.close(lease, cost)

    def recorded(
        self, receipts: Sequence[Receipt], baselines: Sequence[tuple[Scope, int]], now: float
    ) -> None:
        """The registry recorded the requests of ``receipts``: their cost is no longer
        unrecorded. ``baselines`` are keys' spends (nanos) the registry holds now."""
        self.ledger.recorded(receipts)
        q = self.q
        now_ms = int(now * 1000)
        for scope, spend in baselines:
            off = self._lookup(*scope.digest)
            if off < 0:
                continue
            # A spend read back later is larger unless an admin lowered it; a stale larger
            # one (that admin change) stops counting once its time is up.
            if spend >= q[off + BASELINE] or q[off + BASELINE_UNTIL] <= now_ms:
                q[off + BASELINE] = spend
                q[off + BASELINE_UNTIL] = now_ms + BASELINE_TTL_MS
