"""Circuit breakers: thresholds, cool-down, one probe; the file store shared by processes."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from plugbay import BreakerStoreRegister, ConfigError, PluginError, hookimpl
from plugbay._router.breaker import (
    BreakerConfig,
    FileBreakerStore,
    MemoryBreakerStore,
    open_store,
)
from plugbay.testing import fake


def run(coroutine):  # type: ignore[no-untyped-def]
    return asyncio.run(coroutine)


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    def make(**config: object) -> MemoryBreakerStore | FileBreakerStore:
        settings = BreakerConfig(**config)  # type: ignore[arg-type]
        if request.param == "memory":
            return MemoryBreakerStore(settings)
        return FileBreakerStore(settings, tmp_path / "breakers")

    return make


def test_consecutive_failures_open_it_and_a_success_in_between_resets_the_count(store):
    breaker = store(failures=3, cooldown=10).breaker("d")

    async def main() -> None:
        now = 1000.0
        for _ in range(2):
            await breaker.failure(now)
        await breaker.success(now)  # the count starts again
        for _ in range(2):
            await breaker.failure(now)
        assert breaker.state(now) == "closed"
        assert await breaker.allow(now)
        await breaker.failure(now)
        assert breaker.state(now) == "open"
        assert breaker.reopens_at() == pytest.approx(now + 10)
        assert not await breaker.allow(now + 9.9)

    run(main())


def test_an_error_rate_over_the_window_opens_it(store):
    breaker = store(failures=0, error_rate=0.5, min_requests=10, window=30).breaker("d")

    async def main() -> None:
        now = 1000.0
        for i in range(9):  # 9 attempts, 5 failed: under min_requests, stays closed
            await (breaker.failure(now) if i % 2 == 0 else breaker.success(now))
        assert breaker.state(now) == "closed"
        await breaker.success(now)
        await breaker.failure(now)  # 11 attempts, 6 failed: 55 %
        assert breaker.state(now) == "open"

    run(main())


def test_old_failures_leave_the_window(store):
    breaker = store(failures=0, error_rate=0.5, min_requests=4, window=5).breaker("d")

    async def main() -> None:
        for _ in range(3):
            await breaker.failure(1000.0)
        for _ in range(3):
            await breaker.success(1010.0)
        await breaker.failure(1010.0)  # 1 of 4 in the window
        assert breaker.state(1010.0) == "closed"

    run(main())


def test_after_the_cool_down_exactly_one_probe_goes_through(store):
    breaker = store(failures=1, cooldown=5).breaker("d")

    async def main() -> None:
        await breaker.failure(1000.0)
        assert breaker.state(1006.0) == "half_open"
        allowed = await asyncio.gather(*(breaker.allow(1006.0) for _ in range(50)))
        assert allowed.count(True) == 1
        await breaker.failure(1006.5)  # the probe failed: open again, a new cool-down
        assert breaker.state(1007.0) == "open"
        assert not await breaker.allow(1011.0)
        assert await breaker.allow(1011.6)  # the next probe
        await breaker.success(1011.7)
        assert breaker.state(1011.7) == "closed"
        assert all(await asyncio.gather(*(breaker.allow(1011.8) for _ in range(5))))

    run(main())


def test_a_probe_that_never_reports_is_given_up_after_another_cool_down(store):
    breaker = store(failures=1, cooldown=5).breaker("d")

    async def main() -> None:
        await breaker.failure(1000.0)
        assert await breaker.allow(1005.0)
        assert not await breaker.allow(1009.0)  # the probe is out
        assert await breaker.allow(1010.5)  # it never came back: another one

    run(main())


def test_breakers_are_per_key(store):
    made = store(failures=1)

    async def main() -> None:
        await made.breaker("a").failure(1000.0)
        assert made.breaker("a").state(1000.0) == "open"
        assert made.breaker("b").state(1000.0) == "closed"
        assert made.breaker("a") is made.breaker("a")

    run(main())


def test_the_file_is_private_and_a_corrupt_one_is_rebuilt(tmp_path):
    path = tmp_path / "breakers"
    path.write_bytes(b"not a breaker file")
    os.chmod(path, 0o644)
    store = FileBreakerStore(BreakerConfig(failures=1), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    run(store.breaker("d").failure(1000.0))
    assert store.breaker("d").state(1000.0) == "open"
    run(store.aclose())
    again = FileBreakerStore(BreakerConfig(failures=1), path)  # what was written survives
    assert again.breaker("d").state(1000.0) == "open"
    run(again.aclose())


def test_unknown_store_and_bad_settings_are_errors(tmp_path):
    with pytest.raises(ValueError, match="known: file, memory, redis"):
        open_store(BreakerConfig(store="etcd"), str(tmp_path / "db"), {"redis": MemoryBreakerStore})
    with pytest.raises(ValueError, match="needs `path`"):
        open_store(BreakerConfig(store="file"), ":memory:", {})


def test_the_gateway_reports_an_unknown_store_by_its_key(make_client):
    with pytest.raises(ConfigError) as info:
        make_client({"router": {"breaker": {"store": "etcd"}}})
    assert "router.breaker.store" in str(info.value)
    with pytest.raises(ConfigError) as info:
        make_client({"router": {"breaker": {"cooldown": 0}}})
    assert "router.breaker" in str(info.value)


WORKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from plugbay._router.breaker import BreakerConfig, FileBreakerStore

    path, action = sys.argv[1], sys.argv[2]
    store = FileBreakerStore(BreakerConfig(failures=2, cooldown=float(sys.argv[3])), path)
    breaker = store.breaker("shared")

    async def main():
        if action == "fail":
            await breaker.failure(time.time())
            print("failed", flush=True)
        elif action == "state":
            print(breaker.state(time.time()), flush=True)
        elif action == "probe":
            print("probe" if await breaker.allow(time.time()) else "refused", flush=True)
        elif action == "probe-and-hang":
            print("probe" if await breaker.allow(time.time()) else "refused", flush=True)
            time.sleep(60)

    asyncio.run(main())
    """
)


def in_process(tmp_path: Path, *args: str) -> str:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "breakers"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_file_store_is_shared_by_processes(tmp_path):
    cooldown = "1.0"
    assert in_process(tmp_path, "fail", cooldown) == "failed"
    assert in_process(tmp_path, "state", cooldown) == "closed"
    assert in_process(tmp_path, "fail", cooldown) == "failed"  # a second process: 2 in a row
    assert in_process(tmp_path, "state", cooldown) == "open"
    deadline = time.monotonic() + 30
    while in_process(tmp_path, "state", cooldown) != "half_open":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # one process takes the probe and is killed before it reports
    script = tmp_path / "worker.py"
    holder = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "breakers"), "probe-and-hang", cooldown],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "probe"
        assert in_process(tmp_path, "probe", cooldown) == "refused"  # only one probe
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert holder.stdout is not None
        holder.stdout.close()
    deadline = time.monotonic() + 30
    while in_process(tmp_path, "probe", cooldown) != "probe":  # given up after the cool-down
        assert time.monotonic() < deadline
        time.sleep(0.1)


class CountingStore(MemoryBreakerStore):
    made: list[CountingStore] = []

    def __init__(self, config: BreakerConfig) -> None:
        super().__init__(config)
        CountingStore.made.append(self)


class StorePlugin:
    @hookimpl
    def plugbay_register_breaker_stores(self, register: BreakerStoreRegister) -> None:
        register.breaker_store("counting", CountingStore)


def test_a_plugin_registers_a_breaker_store_the_config_chooses(make_client):
    CountingStore.made.clear()
    config = {
        "router": {"breaker": {"store": "counting"}},
        "providers": [{"name": "f", "type": "fake"}],
        "models": [{"name": "echo", "provider": "f"}],
    }
    gw = make_client(config, plugins=[StorePlugin(), fake])
    assert gw.gateway.router.breakers is CountingStore.made[0]
    assert gw.http().post(
        "/v1/chat/completions",
        json={"model": "echo", "messages": [{"role": "user", "content": "x"}]},
    ).status_code in (200, 404)


def test_core_store_names_cannot_be_taken():
    class Thief:
        @hookimpl
        def plugbay_register_breaker_stores(self, register: BreakerStoreRegister) -> None:
            register.breaker_store("file", CountingStore)

    from plugbay._plugins import PluginManager
    from plugbay._settings import Settings

    manager = PluginManager.build(Settings().plugins, [Thief()])
    with pytest.raises(PluginError, match="'file' is core's"):
        manager.breaker_stores(Settings())
