"""Plugins' own tables: migration histories declared by ``plugbay_register_migrations``, applied
by the registry per owner, on real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from plugbay import hookimpl
from plugbay._gateway import Gateway
from plugbay._plugins import PluginManager
from plugbay._registry import Store
from plugbay._registry import keys as key_table
from plugbay._registry.migrations import MIGRATIONS
from plugbay.testing.gateway import build_settings

NOTES_V1 = [
    """
    CREATE TABLE notes_items (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
    CREATE TABLE notes_log (step INTEGER NOT NULL);
    INSERT INTO notes_log VALUES (1);
    """,
]
NOTES_V2 = [
    *NOTES_V1,
    """
    ALTER TABLE notes_items ADD COLUMN tag TEXT NOT NULL DEFAULT 'none';
    INSERT INTO notes_log VALUES (2);
    """,
]


class Tables:
    """A plugin keeping its own tables in the registry."""

    def __init__(self, steps: list[str], owner: str | None = None) -> None:
        self.steps, self.owner = steps, owner

    @hookimpl
    def plugbay_register_migrations(self, register):
        register.migrations(self.steps, owner=self.owner)


def gateway(path: Path, *plugins: Tables, names: tuple[str, ...] = ("notes",)) -> Gateway:
    settings = build_settings(None, database=path)
    manager = PluginManager()
    for plugin, name in zip(plugins, names, strict=True):
        manager.register(plugin, name)
    return Gateway(settings, manager)


def open_close(gw: Gateway) -> None:
    async def main() -> None:
        try:
            await gw.prepare_registry()
        finally:
            await gw.store.close()

    asyncio.run(main())


def query(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def versions(path: Path) -> dict[str, int]:
    return dict(query(path, "SELECT owner, version FROM schema_versions"))


def test_a_plugins_steps_are_applied_once_and_recorded_per_owner(tmp_path):
    path = tmp_path / "r.db"
    open_close(gateway(path, Tables(NOTES_V1)))
    assert versions(path) == {"keys": len(key_table.MIGRATIONS), "notes": 1}
    assert query(path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO notes_items (text) VALUES ('kept')")
    db.close()
    open_close(gateway(path, Tables(NOTES_V1)))  # idempotent: nothing runs twice
    assert query(path, "SELECT step FROM notes_log") == [(1,)]

    open_close(gateway(path, Tables(NOTES_V2)))  # the upgrade keeps the rows
    assert versions(path)["notes"] == 2
    assert query(path, "SELECT step FROM notes_log ORDER BY step") == [(1,), (2,)]
    assert query(path, "SELECT text, tag FROM notes_items") == [("kept", "none")]


def add_note(db, text: str) -> int:
    return db.execute("INSERT INTO notes_items (text) VALUES (?)", (text,)).lastrowid


def test_a_plugin_reaches_its_tables_through_the_registry(tmp_path):
    gw = gateway(tmp_path / "r.db", Tables(NOTES_V2))

    async def main():
        await gw.prepare_registry()
        try:
            registry = gw.registry
            first = await registry.write(add_note, "one")
            await registry.write(add_note, "two")
            with pytest.raises(sqlite3.IntegrityError):  # the transaction is rolled back
                await registry.write(lambda db: (add_note(db, "three"), add_note(db, None)))
            rows = await registry.read("SELECT id, text, tag FROM notes_items ORDER BY id")
            return first, rows, await registry.schema_version("notes")
        finally:
            await gw.store.close()

    first, rows, version = asyncio.run(main())
    assert rows == [(first, "one", "none"), (first + 1, "two", "none")]
    assert version == 2


def test_a_database_newer_than_the_plugin_stops_start_up_naming_it(tmp_path):
    path = tmp_path / "r.db"
    open_close(gateway(path, Tables(NOTES_V2)))
    with pytest.raises(RuntimeError, match=r"plugin notes: .*'notes'.* version 2, newer"):
        open_close(gateway(path, Tables(NOTES_V1)))


def test_a_failing_step_is_rolled_back_and_names_the_plugin(tmp_path):
    path = tmp_path / "r.db"
    broken = [*NOTES_V1, "INSERT INTO notes_log VALUES (2);\nINSERT INTO nowhere VALUES (1);\n"]
    with pytest.raises(RuntimeError, match="plugin notes: migrating its tables"):
        open_close(gateway(path, Tables(broken)))
    assert versions(path)["notes"] == 1
    assert query(path, "SELECT step FROM notes_log") == [(1,)]  # step 2 left nothing behind


def test_two_plugins_declaring_one_owner_is_an_error_naming_both(tmp_path):
    with pytest.raises(RuntimeError, match=r"plugins (notes and other|other and notes) both"):
        gateway(
            tmp_path / "r.db",
            Tables(NOTES_V1),
            Tables(NOTES_V1, owner="notes"),
            names=("notes", "other"),
        )


def test_the_keys_table_history_is_the_registrys_own(tmp_path):
    path = tmp_path / "r.db"
    with pytest.raises(RuntimeError, match="'keys' cannot own migrations"):
        open_close(gateway(path, Tables(NOTES_V1, owner="keys")))

    async def main() -> None:
        store = await Store(path).open()
        try:
            with pytest.raises(ValueError, match="cannot own"):
                await store.migrate_plugin("", ["SELECT 1;"])
        finally:
            await store.close()

    asyncio.run(main())


MIGRATE = """
import asyncio, sys
from plugbay._registry import Store

STEPS = {steps!r}

async def main():
    store = await Store(sys.argv[1]).open()
    try:
        print(await store.migrate_plugin("notes", STEPS))
    finally:
        await store.close()

asyncio.run(main())
"""


def test_processes_migrating_at_once_apply_each_step_once(tmp_path):
    path = tmp_path / "r.db"
    script = tmp_path / "migrate.py"
    script.write_text(textwrap.dedent(MIGRATE.format(steps=NOTES_V2)))
    runs = [
        subprocess.Popen(
            [sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs == ["2", "2"]
    assert query(path, "SELECT step FROM notes_log ORDER BY step") == [(1,), (2,)]
    assert versions(path)["notes"] == 2


TABLES_PLUGIN = """
import os

from plugbay import hookimpl

STEPS = [
    "CREATE TABLE notes_log (step INTEGER NOT NULL);\\nINSERT INTO notes_log VALUES (1);",
    "CREATE TABLE notes_workers (pid INTEGER NOT NULL);\\nINSERT INTO notes_log VALUES (2);",
]


def seen(db, pid):
    db.execute("INSERT INTO notes_workers VALUES (?)", (pid,))


@hookimpl
def plugbay_register_migrations(register):
    register.migrations(STEPS)


@hookimpl
async def plugbay_startup(gateway):
    await gateway.registry.write(seen, os.getpid())
"""


@pytest.mark.slow
def test_workers_of_serve_migrate_once_and_reach_the_plugins_tables(tmp_path):
    from plugbay.testing import ServeProcess, install_plugin

    site = install_plugin(tmp_path / "site", "notes", TABLES_PLUGIN)
    env = {"PLUGBAY_MASTER_KEY": "sk-test-master-0123456789abcdef", "PYTHONPATH": str(site)}
    server = ServeProcess("--workers", "2", cwd=tmp_path, env=env)
    server.start(120, ready_workers=2)
    server.stop()
    assert server.process is not None
    assert server.process.returncode == 0, server.output
    path = tmp_path / "plugbay.db"
    assert query(path, "SELECT step FROM notes_log ORDER BY step") == [(1,), (2,)]
    assert versions(path)["notes"] == 2
    assert len({pid for (pid,) in query(path, "SELECT pid FROM notes_workers")}) >= 2
