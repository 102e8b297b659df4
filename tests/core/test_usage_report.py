"""Usage aggregation over real SQLite rows: groupings, time ranges, null costs."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from plugbay._admin.usage import report
from plugbay._registry import Store

DAY1 = dt.datetime(2026, 3, 1, 10, 15, tzinfo=dt.UTC).timestamp()
DAY2 = dt.datetime(2026, 3, 2, 23, 59, tzinfo=dt.UTC).timestamp()

ROWS = [
    # ts, key, model, provider, prompt, completion, cached, status, cost
    (DAY1, "key_a", "mini", "openai", 100, 10, 20, 200, 0.001),
    (DAY1 + 60, "key_a", "mini", "openai", 50, 5, 0, 200, 0.0005),
    (DAY1 + 3600, "key_b", "claude", "anthropic", 10, 1, 0, 502, None),
    (DAY2, "key_b", "homebrew", "local", 7, 3, 0, 200, None),
]


def usage_row(ts, key, model, provider, prompt, completion, cached, status, cost):
    """A row in USAGE_COLUMNS order."""
    return (
        *(ts, "r", "chat", key, model, provider, model, prompt, completion, cached),
        *(0, 1.0, None, status, None, 0, None, None, 0, cost),
    )


def query(tmp_path, **kwargs):
    async def run():
        store = await Store(tmp_path / "usage.db").open()
        try:
            await store.usage.record([usage_row(*r) for r in ROWS[: kwargs.pop("rows", 4)]], {})
            return await report(store, **kwargs)
        finally:
            await store.close()

    return asyncio.run(run())


def test_grouped_by_day_and_key(tmp_path):
    result = query(tmp_path, start=DAY1 - 1, end=DAY2 + 1, group_by="day,key")
    rows = [
        (r.day, r.key_id, r.requests, r.errors, r.prompt_tokens, r.cost_usd) for r in result.data
    ]
    assert rows == [
        ("2026-03-01", "key_a", 2, 0, 150, pytest.approx(0.0015)),
        ("2026-03-01", "key_b", 1, 1, 10, None),
        ("2026-03-02", "key_b", 1, 0, 7, None),
    ]
    assert result.totals.requests == 4
    assert result.totals.error_rate == 0.25
    assert result.totals.cost_usd == pytest.approx(0.0015)
    assert result.totals.unpriced_requests == 1  # the failed request is not "unpriced"
    assert result.totals.cached_tokens == 20


def test_grouped_by_hour_and_provider_within_a_range(tmp_path):
    result = query(
        tmp_path,
        start="2026-03-01T00:00:00Z",
        end="2026-03-02T00:00:00Z",
        group_by=["hour", "provider"],
    )
    assert [(r.hour, r.provider, r.requests) for r in result.data] == [
        ("2026-03-01T10:00Z", "openai", 2),
        ("2026-03-01T11:00Z", "anthropic", 1),
    ]
    assert result.totals.requests == 3


def test_filters_and_empty_ranges(tmp_path):
    only_b = query(tmp_path, start=DAY1 - 1, end=DAY2 + 1, key_id="key_b", group_by="model")
    assert [r.model for r in only_b.data] == ["claude", "homebrew"]
    empty = query(tmp_path, start=DAY2 + 10, end=DAY2 + 20)
    assert empty.totals.requests == 0
    assert empty.totals.cost_usd is None
    assert empty.totals.error_rate == 0.0
