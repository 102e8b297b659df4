"""The layout of the limit state: one flat buffer of int64, the same in memory and in a file.

```
header    HEADER values: magic, version, slots, RECORD, holders, leases per holder
records   slots x RECORD: one per limited thing (a key, a model, a key on a model)
holders   holders x HOLDER: one per process that may hold leases (a worker)
leases    holders x leases x LEASE: each holder's own part, written only by that holder
```

A file of another layout (``MAGIC`` differs) is started afresh.
"""

from __future__ import annotations

WINDOW = 60
"""Seconds in a window: limits are per minute."""
RING = WINDOW + 1
"""Buckets counted per decision (the current, partial one and the 60 before it)."""
HEADER = 8
"""int64 values before the first record: magic, version, slots, record size, holders,
leases per holder."""
MAGIC = 0x504252_4C0003  # "PBRL", layout 3

RECORD = 132
"""int64 values per record: hash (2), last bucket, in flight, requests ring, tokens ring,
the two rings' running totals (so a decision never sums a ring), then money in USD nanos:
reserved, unrecorded, and the registry's spend with the time (ms) until which it counts."""
LAST, INFLIGHT, REQ, TOK = 2, 3, 4, 4 + RING
RSUM, TSUM = TOK + RING, TOK + RING + 1
RESERVED, UNRECORDED, BASELINE, BASELINE_UNTIL = 128, 129, 130, 131

HOLDER = 4
"""int64 values per holder: state (1: taken), pid, claimed at (ms), leases ever used."""
LEASE = 6
"""int64 values per lease: kind, record, the record's hash (2), slot (0/1), USD nanos."""
FREE, HELD, UNRECORDED_SPEND = 0, 1, 2
"""Lease kinds: free; a request in flight (its slot and reservation); the real cost of a
holder's finished requests on one key that the registry has not recorded yet."""

BASELINE_TTL_MS = 5000
"""How long the spend a worker read back from the registry after writing usage counts as the
key's spend (the other workers' copies of the key are at most this stale)."""
NANOS = 1_000_000_000
"""Money is counted in USD nanos (int64: up to $9.2 billion)."""


def nanos(usd: float) -> int:
    return round(usd * NANOS)
