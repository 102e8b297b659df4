"""The check-and-charge primitive, driven with explicit clocks."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from plugbay_ratelimit.limiter import format_duration
from plugbay_ratelimit.stores import FileStore, MemoryStore
from plugbay_ratelimit.window import Scope, Table, digest


def scope(name: str, rpm=None, tpm=None, parallel=None) -> Scope:
    return Scope(name, digest(name), rpm, tpm, parallel)


@pytest.fixture
def table() -> Table:
    return MemoryStore(256).table


def test_at_most_limit_in_any_sixty_seconds(table):
    key = scope("key:a", rpm=5)
    admitted = []
    t = 1000.0
    while t < 1300.0:  # one attempt every 0.25 s for five minutes
        if table.charge([key], 0, t).admitted:
            admitted.append(t)
        t += 0.25
    assert admitted[:5] == [1000.0, 1000.25, 1000.5, 1000.75, 1001.0]
    for start in admitted:
        in_minute = [a for a in admitted if start <= a < start + 60]
        assert len(in_minute) <= 5
    # and the window slides: a full allowance comes back each minute, not 2x at a boundary
    assert 20 <= len(admitted) <= 25


def test_no_fixed_window_burst_at_the_boundary(table):
    key = scope("key:b", rpm=10)
    assert all(table.charge([key], 0, 1059.9).admitted for _ in range(10))
    # a fixed window would start afresh at 1060
    assert not table.charge([key], 0, 1060.1).admitted
    assert not table.charge([key], 0, 1119.0).admitted
    assert table.charge([key], 0, 1120.0).admitted


def test_refusal_charges_nothing_anywhere(table):
    key, model = scope("key:c", rpm=100), scope("model:m", rpm=1)
    assert table.charge([key, model], 0, 500.0).admitted
    refused = table.charge([key, model], 0, 500.5)
    assert not refused.admitted
    assert refused.refused == ("model:m", "requests", 1, 1)
    decision = table.charge([key], 0, 501.0)
    assert decision.requests == (100, 98, pytest.approx(61.0))  # the refusal was not charged


def test_tokens_and_retry_after(table):
    key = scope("key:d", tpm=1000)
    assert table.charge([key], 600, 100.0).admitted
    assert table.charge([key], 300, 130.0).admitted
    refused = table.charge([key], 200, 140.0)
    assert not refused.admitted
    assert refused.refused == ("key:d", "tokens", 1000, 900)
    assert refused.retry_after == pytest.approx(21.0)  # the 600 leave at 161
    assert refused.tokens == (1000, 100, pytest.approx(51.0))
    assert table.charge([key], 200, 161.0).admitted


def test_request_larger_than_the_limit_never_passes(table):
    refused = table.charge([scope("key:e", tpm=100)], 101, 10.0)
    assert not refused.admitted
    assert refused.retry_after is None


def test_settle_refunds_and_charges(table):
    key = scope("key:f", tpm=1000)
    first = table.charge([key], 900, 10.0)
    table.settle([key], first.bucket, -850, 12.0)  # used 50, not 900
    assert table.charge([key], 900, 13.0).tokens[1] == 50
    # a long stream, settled when its bucket already left the window, charges now
    late = table.charge([scope("key:g", tpm=1000)], 10, 10.0)
    table.settle([scope("key:g", tpm=1000)], late.bucket, 500, 100.0)
    assert table.charge([scope("key:g", tpm=1000)], 0, 101.0).tokens[1] == 500


def test_parallel(table):
    key = scope("key:h", parallel=2)
    first, second = table.charge([key], 0, 1.0), table.charge([key], 0, 1.0)
    assert first.admitted
    assert second.admitted
    refused = table.charge([key], 0, 1.0)
    assert refused.refused == ("key:h", "parallel", 2, 2)
    table.settle([key], first.bucket, 0, 2.0, first.lease)
    assert table.charge([key], 0, 2.0).admitted


def test_idle_records_are_reused_and_live_ones_kept():
    table = MemoryStore(64).table
    for i in range(64 * 4):
        assert table.charge([scope(f"key:{i}", rpm=1)], 0, 1000.0).admitted
    # the table is full of live records; an old name still answers right or is evicted,
    # but a record is never shared by two names at once
    fresh = scope("key:fresh", rpm=1)
    assert table.charge([fresh], 0, 1000.0).admitted
    assert not table.charge([fresh], 0, 1000.0).admitted
    # a minute later every record is idle and reused without losing new state
    later = scope("key:later", rpm=1)
    assert table.charge([later], 0, 1100.0).admitted
    assert not table.charge([later], 0, 1100.5).admitted


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.12, "120ms"),
        (1, "1s"),
        (17.5, "18s"),
        (60.2, "1m1s"),
        (360, "6m0s"),
        (3723, "1h2m3s"),
        (-1, "0ms"),
    ],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def _hammer(path: str, attempts: int, queue) -> None:
    import asyncio

    async def run() -> int:
        store = FileStore(path, 1024)
        await store.start()
        key = scope("key:shared", rpm=37)
        admitted = 0
        for _ in range(attempts):
            admitted += (await store.charge([key], 0)).admitted
        await store.aclose()
        return admitted

    queue.put(asyncio.run(run()))


def test_file_store_is_exact_across_processes(tmp_path: Path):
    path = str(tmp_path / "state.ratelimit")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(path, 50, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(10)
    assert sum(results) == 37


@pytest.mark.anyio
async def test_file_store_state_survives_reopening(tmp_path: Path):
    path = tmp_path / "state.ratelimit"
    key = scope("key:persist", rpm=2)
    first = FileStore(path, 128)
    await first.start()
    assert (await first.charge([key], 0)).admitted
    await first.aclose()
    second = FileStore(path, 4096)  # the file's layout wins over a changed setting
    await second.start()
    assert second.table.slots == 128
    assert (await second.charge([key], 0)).admitted
    assert not (await second.charge([key], 0)).admitted
    await second.aclose()


def test_running_totals_always_equal_the_rings(table):
    import random

    from plugbay_ratelimit.layout import REQ, RING, RSUM, TOK, TSUM

    rng = random.Random(7)
    scopes = [scope(f"key:{i}", rpm=50, tpm=5000) for i in range(3)]
    now = 10_000.0
    charged = []
    for _ in range(3000):
        now += rng.choice((0.0, 0.01, 0.4, 3.0, 70.0)) if rng.random() < 0.3 else 0.05
        decision = table.charge(rng.sample(scopes, 2), rng.randint(0, 300), now)
        if decision.admitted:
            charged.append(decision.bucket)
        if charged and rng.random() < 0.5:
            table.settle(scopes, charged.pop(0), rng.randint(-300, 300), now)
        for s in scopes:
            off = table._find(*s.digest, int(now))
            q = table.q
            assert q[off + RSUM] == sum(q[off + REQ : off + REQ + RING])
            assert q[off + TSUM] == sum(q[off + TOK : off + TOK + RING])


def test_a_record_another_process_took_over_is_looked_for_again():
    # Two tables over one buffer stand for two workers sharing the file: each remembers
    # where its records are, and must notice when the other reused that place.
    from plugbay_ratelimit.layout import TSUM

    store = MemoryStore(4)
    mine = store.table
    theirs = Table(mine.q, 4)
    names = iter(f"key:{i}" for i in range(1000))
    x = scope(next(names), rpm=1)
    y = next(s for s in (scope(n, rpm=1) for n in names) if s.digest[0] % 4 == x.digest[0] % 4)
    assert mine.charge([x], 0, 0.0).admitted  # mine remembers where x is
    assert theirs.charge([y], 0, 100.0).admitted  # x idle for 100 s: y takes its record
    assert mine.charge([x], 0, 100.0).admitted  # x is new again, and y's count is not x's
    assert not theirs.charge([y], 0, 100.5).admitted
    assert not mine.charge([x], 0, 100.5).admitted
    mine.settle([x], 100, 5, 100.5)  # a correction lands on x's record, not on y's
    q = mine.q
    assert q[mine._find(*x.digest, 100) + TSUM] == 5
    assert q[mine._find(*y.digest, 100) + TSUM] == 0


@pytest.mark.anyio
async def test_file_store_token_corrections_reach_every_worker(tmp_path: Path):
    # A correction without a lease is written under this worker's next lock, or at the end of
    # the event loop's turn: its own next decision sees it at once, another worker's after
    # that turn, and closing writes what waits.
    import asyncio

    path = tmp_path / "state.ratelimit"
    mine, theirs = FileStore(path, 64), FileStore(path, 64)
    await mine.start()
    await theirs.start()
    try:
        key = scope("key:corrected", tpm=100)
        charged = await mine.charge([key], 100)
        assert charged.admitted
        assert not (await theirs.charge([key], 10)).admitted
        await mine.settle([key], charged.bucket, -30)
        assert (await mine.charge([key], 10)).admitted  # its own decision: corrected first
        await mine.settle([key], charged.bucket, -30)
        await asyncio.sleep(0)  # one turn of the loop, no waiting on a clock
        assert (await theirs.charge([key], 40)).admitted  # 100 - 60 + 10 + 40 = 90
        assert not (await theirs.charge([key], 20)).admitted
        await mine.settle([key], charged.bucket, -50)
        await mine.aclose()  # writes the waiting correction
        assert (await theirs.charge([key], 50)).admitted
    finally:
        await theirs.aclose()
        if mine.table is not None:
            await mine.aclose()
