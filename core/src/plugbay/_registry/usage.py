"""Usage records: one batch of rows, and what they cost each key, in one write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["COLUMNS", "record"]

COLUMNS = (
    "ts",
    "request_id",
    "endpoint",
    "key_id",
    "model",
    "provider",
    "upstream_model",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "usage_estimated",
    "latency_ms",
    "ttft_ms",
    "status",
    "error_code",
    "stream",
    "cache_status",
    "cost_usd",
)
"""The order of the values in each row :func:`record` is given."""
_INSERT = f"INSERT INTO usage ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def record(
    db: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    spend: Mapping[str, float],
    now: float,
    read_back: bool = False,
) -> dict[str, float]:
    """Insert ``rows`` and add ``spend`` (by key id) to each key's spend.

    With ``read_back``, return each of those keys' spend as the transaction leaves it.
    """
    db.executemany(_INSERT, rows)
    spent: dict[str, float] = {}
    if spend:
        db.executemany(
            "UPDATE keys SET spend = spend + ?, changed_at = ? WHERE id = ?",
            [(amount, now, key_id) for key_id, amount in spend.items()],
        )
        if read_back:
            ids = list(spend)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, spend FROM keys WHERE id IN ({marks})"
                spent.update((row[0], row[1]) for row in db.execute(sql, chunk))
    return spent
