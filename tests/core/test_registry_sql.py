"""All SQL lives in the registry layer (``plugbay._registry``): none in the rest of core, none
in a first-party plugin. Another backend then replaces SQLite in one package."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core" / "src" / "plugbay"
REGISTRY = CORE / "_registry"
PLUGINS = sorted((ROOT / "plugins").glob("*/src"))

OWN_DATABASES = {
    ROOT / "plugins" / "cache" / "src" / "plugbay_cache" / "sqlite.py": (
        "the response cache's own database file beside the registry (a cache backend, like "
        "its redis one), not registry data"
    ),
}
"""Modules that keep a database of their own, apart from the registry. They may speak SQL to
it, but never name a registry table."""

_SQL = re.compile(
    r"""\b(?:
        SELECT\s+[\w*(] | INSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b | UPDATE\s+\w+\s+SET\b
        | DELETE\s+FROM\b | REPLACE\s+INTO\b
        | CREATE\s+(?:TEMP\s+)?(?:TABLE|(?:UNIQUE\s+)?INDEX|TRIGGER|VIEW)\b
        | ALTER\s+TABLE\b | DROP\s+(?:TABLE|INDEX|TRIGGER|VIEW)\b | PRAGMA\s+\w+
        | BEGIN(?:\s+(?:IMMEDIATE|EXCLUSIVE|DEFERRED))?\s*(?:TRANSACTION)?\s*;?\s*$
        | COMMIT\s*;?\s*$ | ROLLBACK\s*;?\s*$
    )""",
    re.VERBOSE,
)
_EXECUTE = frozenset({"execute", "executemany", "executescript"})
_REGISTRY_TABLES = re.compile(
    r"\b(?:FROM|INTO|UPDATE|TABLE|JOIN|ON)\s+"
    r"(?:providers|models|prices|keys|usage|meta|schema_versions)\b"
)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def sql_in(source: str) -> Iterator[tuple[int, str]]:
    """``(line, text)`` for every SQL string and every ``.execute*(...)`` call in ``source``
    (docstrings are prose, and comments are not in the tree)."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    for node in ast.walk(tree):  # an f-string's pieces are read as one string, below
        if isinstance(node, ast.JoinedStr):
            prose.update(id(part) for part in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # f"SELECT {columns} FROM ...": x for each field
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "x" for part in node.values
            )
            if _SQL.search(text.strip()):
                yield node.lineno, text.strip()[:60]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in prose and _SQL.search(node.value.strip()):
                yield node.lineno, node.value.strip()[:60]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _EXECUTE
        ):
            yield node.lineno, f".{node.func.attr}(...)"


def sources() -> list[Path]:
    core = [p for p in CORE.rglob("*.py") if REGISTRY not in p.parents]
    return sorted([*core, *(p for src in PLUGINS for p in src.rglob("*.py"))])


def test_there_is_something_to_scan():
    names = {p.relative_to(ROOT).as_posix() for p in sources()}
    assert "core/src/plugbay/_admin/service.py" in names
    assert "core/src/plugbay/_usage.py" in names
    assert "plugins/keys/src/plugbay_keys/authenticator.py" in names
    assert not any(name.startswith("core/src/plugbay/_registry/") for name in names)
    assert all(path.exists() for path in OWN_DATABASES)


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_sql_outside_the_registry(path):
    found = list(sql_in(path.read_text()))
    if path in OWN_DATABASES:
        registry = [(line, text) for line, text in found if _REGISTRY_TABLES.search(text)]
        assert not registry, f"{path.name} reaches into the registry's tables: {registry}"
        return
    assert not found, (
        f"SQL outside plugbay._registry in {path.relative_to(ROOT)}: {found}; "
        "add a method to the registry API (plugbay._registry.api) instead"
    )


BAD = '''
"""Reads keys. SELECT would be prose here: docstrings are skipped."""
QUERY = "SELECT * FROM keys WHERE id = ?"

async def load(db):
    async with db.execute(QUERY) as cursor:
        return await cursor.fetchall()

def spend(db):
    db.executemany(f"UPDATE keys SET spend = spend + ? WHERE id = {1}", [])
    sql = f"SELECT {columns}, COUNT(*) FROM usage"
    return "INSERT OR REPLACE INTO prices VALUES (?)", "CREATE INDEX x ON y (z)", "COMMIT"
'''
CLEAN = '''
"""Select the model from the list; update the key, then delete from the cache."""
METHOD = "DELETE"
MESSAGE = "Update keys set by the admin API; insert into the chain."

def call(client):
    return client.request("DELETE", "/admin/keys/1")
'''


def test_the_scan_finds_sql_and_execute_calls():
    found = sorted(text for _, text in sql_in(BAD))
    assert found == sorted(
        [
            "SELECT * FROM keys WHERE id = ?",
            ".execute(...)",
            ".executemany(...)",
            "UPDATE keys SET spend = spend + ? WHERE id = x",
            "SELECT x, COUNT(*) FROM usage",
            "INSERT OR REPLACE INTO prices VALUES (?)",
            "CREATE INDEX x ON y (z)",
            "COMMIT",
        ]
    )
    assert list(sql_in(CLEAN)) == []


def test_an_own_database_may_not_name_a_registry_table():
    own = [text for _, text in sql_in(BAD) if _REGISTRY_TABLES.search(text)]
    assert "SELECT * FROM keys WHERE id = ?" in own
    cache = 'db.execute("SELECT value FROM entries WHERE key = ? AND expires > ?", (k, t))'
    assert [t for _, t in sql_in(cache) if _REGISTRY_TABLES.search(t)] == []
