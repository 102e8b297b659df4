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
"""

from __future__ import annotations

import hashlib
import logging
import struct
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "RECORD",
    "RING",
    "WINDOW",
    "Decision",
    "Scope",
    "Table",
    "digest",
]

log = logging.getLogger("plugbay.ratelimit")

WINDOW = 60
"""Seconds in a window: limits are per minute."""
RING = WINDOW + 1
"""Buckets counted per decision (the current, partial one and the 60 before it)."""
RECORD = 128
"""int64 values per record: hash (2), last bucket, in flight, requests ring, tokens ring,
and the two rings' running totals (so a decision never sums a ring)."""
HEADER = 8
"""int64 values before the first record: magic, version, slots, record size."""
PROBE = 16
"""Records looked at for one name before the least recently used one is taken over."""
MAGIC = 0x504252_4C0002  # "PBRL", layout 2
_LAST, _INFLIGHT, _REQ, _TOK = 2, 3, 4, 4 + RING
_RSUM, _TSUM = _TOK + RING, _TOK + RING + 1

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


class Decision:
    """The answer to a check-and-charge.

    ``requests`` and ``tokens`` are ``(limit, remaining, reset_seconds)`` of the tightest
    limit of that kind, or ``None`` when no limit of that kind applies. A refusal names the
    scope and kind (``requests``, ``tokens``, ``parallel``) and when to retry (``None``:
    never, the request alone exceeds the limit).
    """

    __slots__ = ("admitted", "bucket", "refused", "requests", "retry_after", "tokens")

    def __init__(
        self,
        admitted: bool,
        bucket: int,
        requests: tuple[int, int, float] | None,
        tokens: tuple[int, int, float] | None,
        refused: tuple[str, str, int, int] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.admitted = admitted
        self.bucket = bucket
        self.requests = requests
        self.tokens = tokens
        self.refused = refused  # (scope name, kind, limit, used)
        self.retry_after = retry_after


class Table:
    """Records in a buffer of int64; callers hold whatever lock the buffer needs."""

    def __init__(self, buffer: memoryview, slots: int) -> None:
        self.q = buffer.cast("q") if buffer.format != "q" else buffer
        self.slots = slots

    def init_header(self) -> None:
        q = self.q
        q[0], q[1], q[2], q[3] = MAGIC, 1, self.slots, RECORD

    @staticmethod
    def size(slots: int) -> int:
        return (HEADER + slots * RECORD) * 8

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
                last = q[off + _LAST]
                if cur - last > WINDOW and q[off + _INFLIGHT] <= 0:
                    free = off
                elif oldest < 0 or last < oldest_last:
                    oldest, oldest_last = off, last
        if free < 0:  # every record in reach is live: take over the least recently used
            log.warning("rate-limit table is full; raise [ratelimit] slots (now %d)", slots)
            free = oldest
        off = free
        q[off] = d0
        q[off + 1] = d1
        q[off + _LAST] = cur
        q[off + _INFLIGHT] = 0
        for k in range(_REQ, RECORD):
            q[off + k] = 0
        return off

    def _roll(self, off: int, cur: int) -> int:
        """Empty the buckets that left the window; return the record's current bucket."""
        q = self.q
        last = q[off + _LAST]
        if cur <= last:  # another process's clock is a hair ahead
            return last
        if cur - last >= RING:
            for k in range(_REQ, RECORD):
                q[off + k] = 0
        else:
            for b in range(last + 1, cur + 1):
                slot = b % RING
                q[off + _RSUM] -= q[off + _REQ + slot]
                q[off + _TSUM] -= q[off + _TOK + slot]
                q[off + _REQ + slot] = 0
                q[off + _TOK + slot] = 0
        q[off + _LAST] = cur
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

    def charge(self, scopes: Sequence[Scope], tokens: int, now: float) -> Decision:
        """Check every limit of every scope; if all hold, charge them all.

        The answer describes the tightest requests and tokens limits also on a refusal.
        """
        q = self.q
        cur = int(now)
        found = []
        refused: tuple[Scope, str, int, int, int, int] | None = None  # scope, kind, limit...
        req_best: tuple[int, int, int, int, int] | None = None  # (left, limit, used, base, b)
        tok_best: tuple[int, int, int, int, int] | None = None
        for scope in scopes:
            off = self._find(*scope.digest, cur)
            bucket = self._roll(off, cur)
            found.append((off, bucket))
            rpm, tpm, parallel = scope.rpm, scope.tpm, scope.parallel
            if rpm is not None:
                base = off + _REQ
                used = q[off + _RSUM]
                left = rpm - used - 1
                if req_best is None or left < req_best[0]:
                    req_best = (left, rpm, used, base, bucket)
                if left < 0 and refused is None:
                    refused = (scope, "requests", rpm, used, base, bucket)
            if tpm is not None:
                base = off + _TOK
                used = q[off + _TSUM]
                left = tpm - used - tokens
                if tok_best is None or left < tok_best[0]:
                    tok_best = (left, tpm, used, base, bucket)
                if left < 0 and refused is None:
                    refused = (scope, "tokens", tpm, used, base, bucket)
            if parallel is not None and refused is None:
                inflight = q[off + _INFLIGHT]
                if inflight + 1 > parallel:
                    refused = (scope, "parallel", parallel, inflight, -1, bucket)
        if refused is None:
            for scope, (off, bucket) in zip(scopes, found, strict=True):
                slot = bucket % RING
                q[off + _REQ + slot] += 1
                q[off + _TOK + slot] += tokens
                q[off + _RSUM] += 1
                q[off + _TSUM] += tokens
                if scope.parallel is not None:
                    q[off + _INFLIGHT] += 1
        admitted = refused is None
        requests = tokens_info = None
        if req_best is not None:
            left, limit, used, base, bucket = req_best
            remaining = left if admitted else limit - used
            requests = (limit, max(0, remaining), self._reset(base, bucket, now))
        if tok_best is not None:
            left, limit, used, base, bucket = tok_best
            remaining = left if admitted else limit - used
            tokens_info = (limit, max(0, remaining), self._reset(base, bucket, now))
        if refused is None:
            return Decision(True, cur, requests, tokens_info)
        scope, kind, limit, used, base, bucket = refused
        cost = tokens if kind == "tokens" else 1
        if kind == "parallel":
            retry: float | None = 1.0  # unknowable: when one of them ends
        elif cost > limit:
            retry = None
        else:
            retry = self._retry(base, bucket, used + cost - limit, now)
        return Decision(False, cur, requests, tokens_info, (scope.name, kind, limit, used), retry)

    def settle(self, scopes: Sequence[Scope], bucket: int, delta: int, now: float) -> None:
        """After the request: correct its token charge by ``delta``; end its in-flight count.

        The correction goes to the bucket charged, while that is still in the window (a
        refund never reaches back further); a late extra charge goes to the current one.
        """
        q = self.q
        cur = int(now)
        for scope in scopes:
            off = self._find(*scope.digest, cur)
            current = self._roll(off, cur)
            if delta:
                if current - bucket <= WINDOW:
                    index = off + _TOK + bucket % RING
                    old = q[index]
                    new = max(0, old + delta)
                    q[index] = new
                    q[off + _TSUM] += new - old
                elif delta > 0:
                    q[off + _TOK + current % RING] += delta
                    q[off + _TSUM] += delta
            if scope.parallel is not None and q[off + _INFLIGHT] > 0:
                q[off + _INFLIGHT] -= 1
