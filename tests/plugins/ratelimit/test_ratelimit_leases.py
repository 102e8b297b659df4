"""Slots and reservations are leases: they die with the process holding them."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from plugbay_ratelimit.layout import NANOS
from plugbay_ratelimit.stores import FileStore, MemoryStore
from plugbay_ratelimit.window import Hold, Scope, digest

SLOTS = Scope("key:slots", digest("key:slots"), None, None, 2)
MONEY = Scope("key:money", digest("key:money"), None, None, None)
BUDGET = Hold(False, budget=NANOS, spent=0, cost=NANOS)  # $1 of $1


def scope(name: str, parallel: int | None = None) -> Scope:
    return Scope(name, digest(name), None, None, parallel)


def _hold_and_hang(path: str, ready) -> None:
    import asyncio

    async def run() -> None:
        store = FileStore(path, 256)
        await store.start()
        assert (await store.charge([SLOTS], 0)).admitted
        assert (await store.charge([SLOTS], 0)).admitted
        assert (await store.charge([MONEY], 0, BUDGET)).admitted
        ready.set()
        await asyncio.sleep(3600)

    asyncio.run(run())


def start_holder(path: Path) -> multiprocessing.Process:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_and_hang, args=(str(path), ready), daemon=True)
    holder.start()
    assert ready.wait(60), "the holding process did not start"
    return holder


def kill(process: multiprocessing.Process) -> None:
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert process.exitcode == -signal.SIGKILL


async def admitted_within(store: FileStore, scopes, hold, seconds: float) -> float:
    """Ask until admitted; return how long that took."""
    started = time.monotonic()
    while True:
        decision = await store.charge(scopes, 0, hold)
        if decision.admitted:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"still refused: {decision.refused}"
        await _pause()


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.05)


@pytest.mark.anyio
async def test_a_killed_worker_gives_back_its_slots_and_reservations(tmp_path: Path):
    path = tmp_path / "state.ratelimit"
    store = FileStore(path, 256)
    await store.start()
    holder = start_holder(path)
    try:
        busy = await store.charge([SLOTS], 0)
        assert busy.refused == ("key:slots", "parallel", 2, 2)  # alive: its slots stay taken
        spent = await store.charge([MONEY], 0, Hold(False, NANOS, 0, 1))
        assert spent.refused == ("key:money", "budget", NANOS, NANOS)
        assert store.sweep() == 0
    finally:
        kill(holder)
    # kill -9: the kernel dropped its lock; the next refusal (or the sweep) finds it dead
    assert await admitted_within(store, [SLOTS], None, 5.0) < 5.0
    assert (await store.charge([SLOTS], 0)).admitted
    assert (await store.charge([MONEY], 0, BUDGET)).admitted
    await store.aclose()


@pytest.mark.anyio
async def test_a_restart_starts_clean(tmp_path: Path):
    path = tmp_path / "state.ratelimit"
    kill(start_holder(path))  # the state file keeps its leases; nobody is left to sweep
    store = FileStore(path, 256)
    await store.start()  # claiming a holder entry gives back what dead holders held
    assert (await store.charge([SLOTS], 0)).admitted
    assert (await store.charge([SLOTS], 0)).admitted
    assert (await store.charge([MONEY], 0, BUDGET)).admitted
    await store.aclose()


@pytest.mark.anyio
async def test_stopping_gives_everything_back(tmp_path: Path):
    path = tmp_path / "state.ratelimit"
    first = FileStore(path, 256)
    await first.start()
    assert (await first.charge([SLOTS], 0)).admitted
    receipt = await first.settle([MONEY], 0, 0, (await first.charge([MONEY], 0, BUDGET)).lease, 5)
    assert receipt is not None  # $5e-9 unrecorded
    second = FileStore(path, 256)
    await second.start()
    assert (await second.charge([SLOTS], 0)).admitted
    assert not (await second.charge([SLOTS], 0)).admitted
    assert not (await second.charge([MONEY], 0, BUDGET)).admitted  # 5 nanos too many
    await first.aclose()
    assert (await second.charge([SLOTS], 0)).admitted
    assert (await second.charge([MONEY], 0, BUDGET)).admitted
    await second.aclose()


def test_budget_rule_with_reservations_unrecorded_spend_and_the_registry():
    table = MemoryStore(256).table
    key = scope("key:rule")

    def charge(cost: int, spent: int = 0, now: float = 100.0):
        return table.charge([key], 0, now, Hold(False, 100, spent, cost))

    first = charge(60)
    assert first.admitted
    refused = charge(41)
    assert refused.refused == ("key:rule", "budget", 100, 60)
    assert refused.retry_after == 1.0  # the reservation may come back
    assert charge(40).admitted
    # the first one cost 30: 30 unrecorded + 40 reserved
    receipt = table.settle([key], first.bucket, 0, 100.0, first.lease, 30)
    assert charge(31).refused == ("key:rule", "budget", 100, 70)
    assert charge(30).admitted  # 100 used
    assert charge(1).retry_after == 1.0
    # the registry recorded it: it says 30 now; this worker's copy of the key still says 0
    table.recorded([receipt], [(key, 30)], 100.0)
    assert charge(1).refused == ("key:rule", "budget", 100, 100)
    assert charge(1, spent=30).refused == ("key:rule", "budget", 100, 100)  # counted once
    # the registry's word lasts BASELINE_TTL; an admin who lowered the spend wins after that
    table.recorded([], [(key, 0)], 101.0)
    assert charge(1, now=102.0).refused == ("key:rule", "budget", 100, 100)
    assert charge(31, now=105.5).refused == ("key:rule", "budget", 100, 70)


def test_a_request_alone_over_the_budget_is_refused_for_good():
    table = MemoryStore(256).table
    refused = table.charge([scope("key:big")], 0, 1.0, Hold(False, 100, 50, 51))
    assert refused.refused == ("key:big", "budget", 100, 50)
    assert refused.retry_after is None


def test_a_worker_holding_as_many_leases_as_it_may_refuses_more():
    store = MemoryStore(256, leases=16)
    keys = [scope(f"key:{i}", parallel=5) for i in range(17)]
    decisions = [store.table.charge([key], 0, 1.0) for key in keys]
    assert all(d.admitted for d in decisions[:16])
    assert decisions[16].refused == ("key:16", "leases", 16, 16)
    store.table.settle([keys[0]], 1, 0, 1.0, decisions[0].lease)
    assert store.table.charge([keys[16]], 0, 1.0).admitted


def test_what_a_long_request_holds_outlasts_the_window():
    table = MemoryStore(256).table
    key = scope("key:long", parallel=1)
    stream = table.charge([key], 0, 10.0, Hold(True, 100, 0, 60))
    assert stream.admitted
    # two minutes later it is still streaming: its slot and reservation still count
    later = table.charge([key], 0, 130.0, Hold(True, 100, 0, 1))
    assert later.refused == ("key:long", "parallel", 1, 1)
    table.settle([key], stream.bucket, 0, 131.0, stream.lease, 50)
    assert table.charge([key], 0, 132.0, Hold(True, 100, 0, 51)).refused == (
        "key:long",
        "budget",
        100,
        50,
    )
    assert table.charge([key], 0, 132.0, Hold(True, 100, 0, 50)).admitted
