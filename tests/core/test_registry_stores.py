"""The registry's stores (``plugbay.Registry``) on real SQLite files: keys and usage, and two
processes writing both at once."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap

import pytest

import plugbay
from plugbay._registry import KeyRecord, Registry, Store
from plugbay._settings import ModelSettings, ProviderSettings


def run(coro):
    return asyncio.run(coro)


def key(key_id: str, **fields) -> KeyRecord:
    return KeyRecord(id=key_id, name=key_id, hash=f"hash-{key_id}", hint="pb-...0000", **fields)


def usage_row(request_id: str, key_id: str | None, cost: float | None) -> tuple:
    return (
        *(1.0, request_id, "chat", key_id, "m", "p", "m", 1, 2, 0),
        *(0, 1.0, None, 200, None, 0, None, None, 0, cost),
    )


def test_the_sqlite_store_is_a_registry_and_the_api_is_public():
    assert isinstance(Store(":memory:"), Registry)
    assert plugbay.Registry is Registry
    assert plugbay.KeyRecord is KeyRecord
    assert plugbay.KEY_PREFIX == "pb-"
    assert plugbay.hash_key("pb-x") == plugbay.hash_key("pb-x") != plugbay.hash_key("pb-y")


def test_keys_round_trip_and_only_named_fields_change(tmp_path):
    async def main():
        store = await Store(tmp_path / "r.db").open()
        try:
            added = await store.keys.add(
                key("k1", models=["a", "b*"], scopes=["chat"], metadata={"x": 1}, spend=9.0)
            )
            await store.keys.add(key("k2", enabled=False))
            got = await store.keys.get("k1")
            later = await store.keys.update("k1", {"rpm": 5, "enabled": False, "models": None})
            with pytest.raises(ValueError, match="'hash' cannot be changed"):
                await store.keys.update("k1", {"hash": "other"})
            first = await store.keys.revoke("k2")
            again = await store.keys.revoke("k2")
            missing = (await store.keys.update("nope", {"rpm": 1}), await store.keys.revoke("x"))
            total, page = await store.keys.page(1, None)
            _, rest = await store.keys.page(1, "k1")
            assert later is not None
            since = await store.keys.changed_since(later.changed_at)
            return added, got, later, first, again, missing, total, page, rest, since
        finally:
            await store.close()

    added, got, later, first, again, missing, total, page, rest, since = run(main())
    assert added.spend == 0.0  # a new key starts at zero, whatever it was given
    assert got == added
    assert got.models == ["a", "b*"]
    assert got.metadata == {"x": 1}
    assert got.scopes == ["chat"]
    assert later.rpm == 5
    assert later.enabled is False
    assert later.models is None
    assert later.metadata == {"x": 1}
    assert later.hash == "hash-k1"
    assert first is not None
    assert again is not None
    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at
    assert missing == (None, None)
    assert total == 2
    assert [k.id for k in page] == ["k1", "k2"]
    assert [k.id for k in rest] == ["k2"]
    assert "k1" in {k.id for k in since}


def test_usage_rows_and_spend_land_in_one_transaction(tmp_path):
    path = tmp_path / "r.db"

    async def main():
        store = await Store(path).open()
        try:
            await store.keys.add(key("k1"))
            rows = [usage_row("r1", "k1", 0.5), usage_row("r2", "k1", 0.25)]
            spent = await store.usage.record(rows, {"k1": 0.75}, read_back=True)
            quiet = await store.usage.record([usage_row("r3", None, None)], {})
            with pytest.raises(sqlite3.Error):  # a row of the wrong shape: nothing is written
                await store.usage.record([("short",)], {"k1": 100.0})
            report = await store.usage.report(0, 10, group_by=["key"])
            return spent, quiet, report, await store.keys.get("k1")
        finally:
            await store.close()

    spent, quiet, (groups, totals), k1 = run(main())
    assert spent == {"k1": 0.75}
    assert quiet == {}
    assert k1 is not None
    assert k1.spend == 0.75
    assert totals[0] == 3
    assert sorted(groups, key=str) == sorted(
        [("k1", 2, 0, 2, 4, 0, 0.75, 0), (None, 1, 0, 1, 2, 0, None, 1)], key=str
    )


def test_providers_and_models_through_the_store(tmp_path):
    async def main():
        store = await Store(tmp_path / "r.db").open()
        try:
            provider = ProviderSettings(name="p", type="echo")
            assert await store.providers.add(provider, b"sealed")
            assert not await store.providers.add(provider, None)  # the name is taken
            assert await store.models.add(ModelSettings(name="m", provider="p"))
            assert await store.providers.delete("p") == ["m"]  # still used: kept
            await store.models.set_price("m", plugbay.Price(input=1.0, output=2.0))
            priced = await store.snapshot()
            await store.models.delete("m")
            assert await store.providers.delete("p") == []
            assert not await store.providers.update(provider)
            return priced, await store.snapshot()
        finally:
            await store.close()

    priced, empty = run(main())
    assert priced.providers["p"].secret == b"sealed"
    assert priced.prices["m"].output == 2.0
    assert priced.version > 0
    assert (empty.providers, empty.models, empty.prices) == ({}, {}, {})


WORKER = """
import asyncio, sys
from plugbay._registry import KeyRecord, Store

WORKER, KEYS, BATCHES = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def row(n):
    return (1.0, f"{WORKER}-{n}", "chat", "shared", "m", "p", "m", 1, 1, 0, 0, 1.0, None, 200,
            None, 0, None, None, 0, 0.5)

async def main():
    store = await Store(sys.argv[1]).open()
    try:
        for n in range(max(KEYS, BATCHES)):
            if n < KEYS:
                await store.keys.add(KeyRecord(id=f"{WORKER}-{n}", name="k",
                                               hash=f"{WORKER}-{n}", hint="pb-...0000"))
            if n < BATCHES:
                await store.usage.record([row(n * 10 + i) for i in range(10)], {"shared": 5.0})
    finally:
        await store.close()

asyncio.run(main())
"""


def test_two_processes_write_keys_and_usage_at_once_and_nothing_is_lost(tmp_path):
    path = tmp_path / "r.db"

    async def seed() -> None:
        store = await Store(path).open()
        try:
            await store.keys.add(key("shared"))
        finally:
            await store.close()

    run(seed())
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    keys, batches = 150, 150
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), name, str(keys), str(batches)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("w1", "w2")
    ]
    errors = [worker.communicate(timeout=300)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], errors
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT COUNT(*) FROM keys").fetchone()[0] == 1 + 2 * keys
        assert db.execute("SELECT COUNT(*) FROM usage").fetchone()[0] == 2 * batches * 10
        spend = db.execute("SELECT spend FROM keys WHERE id = 'shared'").fetchone()[0]
        assert spend == pytest.approx(2 * batches * 5.0)
    finally:
        db.close()
