"""Usage rows: a batch and what it cost each key in one transaction, and the reports on them."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from plugbay._registry import keys
from plugbay._registry.api import USAGE_COLUMNS, USAGE_GROUPS

if TYPE_CHECKING:
    from plugbay._registry.store import Store

__all__ = ["Usage"]

_INSERT = (
    f"INSERT INTO usage ({', '.join(USAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in USAGE_COLUMNS)})"
)
_GROUPS = {
    "key": "key_id",
    "model": "model",
    "provider": "provider",
    "deployment": "deployment",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
    "hour": "strftime('%Y-%m-%dT%H:00Z', ts, 'unixepoch')",
}
assert tuple(_GROUPS) == USAGE_GROUPS
_TOTALS = """COUNT(*), COALESCE(SUM(status >= 400), 0), COALESCE(SUM(prompt_tokens), 0),
             COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0),
             SUM(cost_usd), COALESCE(SUM(cost_usd IS NULL AND status < 400), 0)"""


def _record(
    db: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    spend: Mapping[str, float],
    now: float,
    read_back: bool,
) -> dict[str, float]:
    db.executemany(_INSERT, rows)
    return keys.charge(db, spend, now, read_back) if spend else {}


class Usage:
    """:class:`plugbay._registry.api.UsageStore` on SQLite."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(
        self,
        rows: Sequence[tuple[Any, ...]],
        spend: Mapping[str, float],
        *,
        read_back: bool = False,
    ) -> dict[str, float]:
        return await self._store.write(_record, rows, spend, time.time(), read_back)

    async def report(
        self,
        start: float,
        end: float,
        *,
        group_by: Sequence[str] = (),
        key_id: str | None = None,
        model: str | None = None,
    ) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
        unknown = [g for g in group_by if g not in _GROUPS]
        if unknown:
            raise ValueError(f"unknown usage grouping {unknown[0]!r}")
        where = "ts >= ? AND ts < ?"
        params: list[Any] = [start, end]
        if key_id is not None:
            where += " AND key_id = ?"
            params.append(key_id)
        if model is not None:
            where += " AND model = ?"
            params.append(model)
        db = self._store.db
        groups: list[tuple[Any, ...]] = []
        if group_by:
            exprs = ", ".join(_GROUPS[g] for g in group_by)
            sql = f"SELECT {exprs}, {_TOTALS} FROM usage WHERE {where} GROUP BY {exprs} "
            async with db.execute(sql + f"ORDER BY {exprs}", params) as cursor:
                groups = [tuple(row) async for row in cursor]
        async with db.execute(f"SELECT {_TOTALS} FROM usage WHERE {where}", params) as cursor:
            totals = tuple(await cursor.fetchone() or ())
        return groups, totals
