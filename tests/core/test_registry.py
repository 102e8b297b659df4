"""The SQLite registry: migrations, WAL, its path, and the config import's semantics."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from plugbay._registry import Store
from plugbay._registry.migrations import MIGRATIONS
from plugbay._settings import ModelSettings, ProviderSettings, Settings
from tests.core.support import canned


def rows(path: Path, table: str) -> dict[str, sqlite3.Row]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return {row["name"]: row for row in db.execute(f"SELECT * FROM {table}")}
    finally:
        db.close()


def insert_api_entries(path: Path) -> None:
    """What the admin API does: rows with source 'api', written by another connection."""
    provider = msgspec.json.encode(ProviderSettings(name="api-p", type="canned"))
    model = msgspec.json.encode(ModelSettings(name="api-m", provider="api-p"))
    db = sqlite3.connect(path)
    try:
        with db:
            db.execute(
                "INSERT INTO providers VALUES ('api-p', 'canned', ?, NULL, 'api', 1.0, 1.0)",
                (provider,),
            )
            db.execute(
                "INSERT INTO models VALUES ('api-m', 'api-p', 'api-m', ?, 'api', 1.0, 1.0)",
                (model,),
            )
    finally:
        db.close()


def run(coro):
    return asyncio.run(coro)


async def import_config(path: Path, providers, models) -> None:
    store = await Store(path).open()
    try:
        await store.import_config(providers, models)
    finally:
        await store.close()


def test_migrations_wal_and_parent_directories(tmp_path):
    path = tmp_path / "deep" / "er" / "plugbay.db"

    async def main() -> int:
        store = await Store(path).open()
        try:
            return await store.migrate()  # already done by open(): idempotent
        finally:
            await store.close()

    assert run(main()) == len(MIGRATIONS)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"providers", "models", "meta"} <= tables
    finally:
        db.close()
    assert run(main()) == len(MIGRATIONS)  # reopening changes nothing


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this plugbay"):
        run(Store(path).open())


def test_migrations_are_applied_in_order(tmp_path, monkeypatch):
    from plugbay._registry import store as store_module

    extra = [*MIGRATIONS, "CREATE TABLE later (x INTEGER);"]
    path = tmp_path / "db"
    run(_open_close(path))  # at the released version
    monkeypatch.setattr(store_module, "MIGRATIONS", extra)
    run(_open_close(path))
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(extra)
        assert db.execute("SELECT count(*) FROM later").fetchone()[0] == 0
    finally:
        db.close()


async def _open_close(path: Path) -> None:
    store = await Store(path).open()
    await store.close()


def test_the_default_path_is_plugbay_db():
    assert Settings().server.database == "plugbay.db"


def test_the_path_comes_from_the_config(make_client, tmp_path):
    path = tmp_path / "elsewhere" / "registry.sqlite"
    gw = make_client(
        {
            "server": {"database": str(path)},
            "providers": [{"name": "c", "type": "canned"}],
            "models": [{"name": "canned", "provider": "c"}],
        },
        plugins=[canned],
    )
    assert gw.gateway.store.path == str(path)
    assert set(rows(path, "models")) == {"canned"}


P1 = ProviderSettings(name="p1", type="canned", base_url="http://a", api_key="sk-p1-secret")
P2 = ProviderSettings(name="p2", type="canned")
M1 = ModelSettings(name="m1", provider="p1", upstream_model="up-1")
M2 = ModelSettings(name="m2", provider="p2")


def test_config_import_creates_updates_and_removes_but_leaves_api_entries(tmp_path):
    path = tmp_path / "db"
    run(import_config(path, [P1, P2], [M1, M2]))
    providers, models = rows(path, "providers"), rows(path, "models")
    assert set(providers) == {"p1", "p2"}
    assert {r["source"] for r in providers.values()} == {"config"}
    assert models["m1"]["upstream_model"] == "up-1"
    assert models["m2"]["upstream_model"] == "m2"  # defaults to the name
    created = providers["p1"]["created_at"]

    insert_api_entries(path)
    time.sleep(0.01)
    # Unchanged entries are not rewritten.
    run(import_config(path, [P1, P2], [M1, M2]))
    assert rows(path, "providers")["p1"]["updated_at"] == providers["p1"]["updated_at"]

    # p1 changes, p2 and m2 are no longer declared, m3 is new.
    p1 = msgspec.structs.replace(P1, base_url="http://b")
    m3 = ModelSettings(name="m3", provider="p1")
    run(import_config(path, [p1], [M1, m3]))
    providers, models = rows(path, "providers"), rows(path, "models")
    assert set(providers) == {"p1", "api-p"}
    assert set(models) == {"m1", "m3", "api-m"}
    assert msgspec.json.decode(providers["p1"]["settings"])["base_url"] == "http://b"
    assert providers["p1"]["created_at"] == created
    assert providers["p1"]["updated_at"] > created
    assert providers["api-p"]["source"] == models["api-m"]["source"] == "api"

    # An empty config removes every config entry and still leaves the api ones.
    run(import_config(path, [], []))
    assert set(rows(path, "providers")) == {"api-p"}
    assert set(rows(path, "models")) == {"api-m"}


def test_config_takes_over_an_api_entry_it_declares(tmp_path):
    path = tmp_path / "db"
    run(import_config(path, [], []))
    insert_api_entries(path)
    run(
        import_config(
            path, [ProviderSettings(name="api-p", type="canned", base_url="http://c")], []
        )
    )
    provider = rows(path, "providers")["api-p"]
    assert provider["source"] == "config"
    assert msgspec.json.decode(provider["settings"])["base_url"] == "http://c"
    assert rows(path, "models")["api-m"]["source"] == "api"


def test_provider_api_keys_are_never_stored(tmp_path):
    path = tmp_path / "db"
    run(import_config(path, [P1], [M1]))
    for file in tmp_path.iterdir():
        assert b"sk-p1-secret" not in file.read_bytes(), file


def test_config_import_at_start_up_and_run_time_entries(make_client, tmp_path):
    path = tmp_path / "shared.db"
    first = {
        "providers": [{"name": "c", "type": "canned"}, {"name": "d", "type": "canned"}],
        "models": [{"name": "a", "provider": "c"}, {"name": "b", "provider": "d"}],
    }
    gw = make_client(first, plugins=[canned], database=path)
    assert sorted(m.id for m in gw.openai().models.list().data) == ["a", "b"]
    # A run-time entry appears in the running gateway without a restart.
    insert_api_entries(path)
    deadline = time.monotonic() + 30
    while "api-m" not in gw.gateway.routes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(m.id for m in gw.openai().models.list().data) == ["a", "api-m", "b"]
    gw.stop()

    second = {
        "providers": [{"name": "c", "type": "canned", "text": "changed"}],
        "models": [{"name": "a", "provider": "c"}, {"name": "z", "provider": "c"}],
    }
    gw = make_client(second, plugins=[canned], database=path)
    client = gw.openai()
    assert sorted(m.id for m in client.models.list().data) == ["a", "api-m", "z"]
    answer = client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
    assert answer.choices[0].message.content == "changed"
    answer = client.chat.completions.create(
        model="api-m", messages=[{"role": "user", "content": "x"}]
    )
    assert answer.model == "api-m"
