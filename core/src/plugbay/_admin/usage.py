"""Usage reports: requests, tokens, cost and error rate grouped by key, model, provider, time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from plugbay._admin.keys import parse_time
from plugbay._admin.shapes import UsageReport, UsageRow
from plugbay._errors import InvalidRequest

if TYPE_CHECKING:
    from plugbay._registry import Store

GROUPS = {
    "key": ("key_id", "key_id"),
    "model": ("model", "model"),
    "provider": ("provider", "provider"),
    "day": ("day", "strftime('%Y-%m-%d', ts, 'unixepoch')"),
    "hour": ("hour", "strftime('%Y-%m-%dT%H:00Z', ts, 'unixepoch')"),
}
_TOTALS = """COUNT(*), COALESCE(SUM(status >= 400), 0), COALESCE(SUM(prompt_tokens), 0),
             COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0),
             SUM(cost_usd), COALESCE(SUM(cost_usd IS NULL AND status < 400), 0)"""


def _row(values: Any, names: list[str]) -> UsageRow:
    groups = dict(zip(names, values[: len(names)], strict=True))
    requests, errors, prompt, completion, cached, cost, unpriced = values[len(names) :]
    return UsageRow(
        **groups,
        requests=requests,
        errors=errors,
        error_rate=round(errors / requests, 6) if requests else 0.0,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        cost_usd=None if cost is None else round(cost, 10),
        unpriced_requests=unpriced,
    )


async def report(
    store: Store,
    *,
    start: float | str | None = None,
    end: float | str | None = None,
    group_by: str | list[str] | None = None,
    key_id: str | None = None,
    model: str | None = None,
) -> UsageReport:
    """Aggregate usage in ``[start, end)`` (default: the last 24 hours)."""
    end_ts = parse_time(end, "end") or time.time() + 1
    start_ts = parse_time(start, "start")
    if start_ts is None:
        start_ts = end_ts - 86400
    if isinstance(group_by, str):
        group_by = [g.strip() for g in group_by.split(",") if g.strip()]
    groups = list(group_by or [])
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise InvalidRequest(
            f"group_by: unknown grouping {unknown[0]!r} (use {', '.join(GROUPS)})", param="group_by"
        )
    where = "ts >= ? AND ts < ?"
    params: list[Any] = [start_ts, end_ts]
    if key_id is not None:
        where += " AND key_id = ?"
        params.append(key_id)
    if model is not None:
        where += " AND model = ?"
        params.append(model)
    names = [GROUPS[g][0] for g in groups]
    db = store.db
    rows: list[UsageRow] = []
    if groups:
        exprs = ", ".join(GROUPS[g][1] for g in groups)
        sql = (
            f"SELECT {exprs}, {_TOTALS} FROM usage WHERE {where} GROUP BY {exprs} ORDER BY {exprs}"
        )
        async with db.execute(sql, params) as cursor:
            rows = [_row(tuple(r), names) async for r in cursor]
    async with db.execute(f"SELECT {_TOTALS} FROM usage WHERE {where}", params) as cursor:
        totals = _row(tuple(await cursor.fetchone() or ()), [])
    return UsageReport(start=start_ts, end=end_ts, group_by=groups, data=rows, totals=totals)
