"""Usage reports: requests, tokens, cost and error rate grouped by key, model, provider, time."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from plugbay._admin.keys import parse_time
from plugbay._admin.shapes import UsageReport, UsageRow
from plugbay._errors import InvalidRequest

if TYPE_CHECKING:
    from plugbay._registry import Registry

GROUPS = {"key": "key_id", "model": "model", "provider": "provider", "day": "day", "hour": "hour"}
"""Each grouping (:data:`plugbay._registry.api.USAGE_GROUPS`) and the field naming it."""


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
    registry: Registry,
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
    names = [GROUPS[g] for g in groups]
    found, totals = await registry.usage.report(
        start_ts, end_ts, group_by=groups, key_id=key_id, model=model
    )
    rows = [_row(values, names) for values in found]
    return UsageReport(
        start=start_ts, end=end_ts, group_by=groups, data=rows, totals=_row(totals, [])
    )
