"""A registry written by plugbay before per-owner histories (schema version 4) opens as it was:
the keys table is adopted by its own history, and no row is lost or changed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from plugbay._auth import hash_key
from plugbay._registry import Store
from plugbay._registry import keys as key_table
from plugbay._registry.migrations import MIGRATIONS

DUMP = Path(__file__).parent / "data" / "registry-v4.sql"
"""Written by the code at schema version 4 (providers, models, a price, keys, usage)."""

ALPHA = "pb-xzt8cD6I8HUEmpwIJ6RIAWjprwmj6RNsae3s_m-3FM4"
BETA = "pb-KHQD9KUXLg6HiB4D0k5LOUlkO84jntJRG7DBYCOG98I"
GAMMA = "pb-7zDu5xzVUNL9PgsiUoZCEdNSjdgM45_g1rOEgXQMoyo"  # revoked
TABLES = ("providers", "models", "prices", "keys", "usage", "meta")


def old_registry(path: Path) -> Path:
    db = sqlite3.connect(path)
    try:
        db.executescript(DUMP.read_text())
    finally:
        db.close()
    return path


def dump(path: Path) -> dict[str, list[tuple]]:
    db = sqlite3.connect(path)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    finally:
        db.close()


def test_the_v4_fixture_is_what_it_claims(tmp_path):
    path = old_registry(tmp_path / "old.db")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 4
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "schema_versions" not in tables
    assert len(dump(path)["keys"]) == 3


def test_a_v4_registry_upgrades_without_losing_a_row(tmp_path):
    path = old_registry(tmp_path / "old.db")
    before = dump(path)

    async def main():
        store = await Store(path).open()
        try:
            snapshot = await store.snapshot()
            total, keys = await store.keys.page(10, None)
            changed = await store.keys.changed_since(None)
            report = await store.usage.report(0, 2e9, group_by=["key"])
            return snapshot, total, keys, changed, report, await store.schema_version("keys")
        finally:
            await store.close()

    snapshot, total, keys, changed, (groups, totals), keys_version = asyncio.run(main())
    # every row as it was; usage rows gained `deployment` (unknown) and `attempts` (0)
    before["usage"] = [(*row, None, 0) for row in before["usage"]]
    assert dump(path) == before
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()
    assert keys_version == len(key_table.MIGRATIONS)

    assert set(snapshot.providers) == {"echo", "api-p"}
    assert set(snapshot.models) == {"echo", "api-m"}
    assert snapshot.prices["echo"].input == 1.0
    assert total == 3
    by_name = {k.name: k for k in keys}
    assert {k.id for k in changed} == {k.id for k in keys}
    alpha, beta, gamma = by_name["alpha"], by_name["beta"], by_name["gamma"]
    # JSON columns written as blobs by the old code decode to the same values.
    assert alpha.hash == hash_key(ALPHA)
    assert beta.hash == hash_key(BETA)
    assert gamma.hash == hash_key(GAMMA)
    assert gamma.revoked_at is not None
    assert alpha.models == ["echo"]
    assert beta.models is None
    assert beta.scopes == ["chat", "models"]
    assert alpha.metadata == {"team": "a"}
    assert alpha.rpm == 10
    assert alpha.max_budget == 5.0
    assert alpha.spend == 0.75
    assert alpha.enabled is True
    assert groups == [(alpha.id, 3, 0, 30, 15, 0, 0.75, 0)]
    assert totals == (3, 0, 30, 15, 0, 0.75, 0)


def test_an_upgraded_registry_takes_writes_to_its_old_keys(tmp_path):
    path = old_registry(tmp_path / "old.db")

    async def main():
        store = await Store(path).open()
        try:
            alpha = next(k for k in (await store.keys.page(10, None))[1] if k.name == "alpha")
            updated = await store.keys.update(alpha.id, {"models": ["echo", "api-*"]})
            spent = await store.usage.record([], {alpha.id: 0.25}, read_back=True)
            return alpha, updated, spent, await store.keys.get(alpha.id)
        finally:
            await store.close()

    alpha, updated, spent, after = asyncio.run(main())
    assert updated is not None
    assert updated.models == ["echo", "api-*"]
    assert updated.changed_at > alpha.changed_at
    assert spent == {alpha.id: 1.0}
    assert after is not None
    assert after.spend == 1.0
    assert after.metadata == {"team": "a"}
