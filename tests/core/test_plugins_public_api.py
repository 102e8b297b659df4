"""First-party plugins import only plugbay's public modules (``plugbay``, ``plugbay.wire``,
``plugbay.schemas``, ``plugbay.testing``...): never ``plugbay._*``, as a third party could not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "plugins").glob("*/src/**/*.py"))


def private_imports(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of a private plugbay module in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "plugbay" or node.module.startswith("plugbay."):
                names += [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "plugbay" and any(part.startswith("_") for part in parts[1:]):
                found.append((node.lineno, name))
    return found


def test_the_scanner_finds_every_spelling():
    source = (
        "import plugbay._auth\n"
        "from plugbay._gateway import Gateway\n"
        "from plugbay import _settings\n"
        "from plugbay.testing._fake import x\n"
        "if TYPE_CHECKING:\n    from plugbay._types import Y\n"
        "from plugbay import hookimpl, Usage\n"
        "from plugbay.wire import SSEBuffer\n"
        "from plugbay_gemini._native import z\n"
    )
    assert private_imports(source) == [
        (1, "plugbay._auth"),
        (2, "plugbay._gateway"),
        (2, "plugbay._gateway.Gateway"),
        (3, "plugbay._settings"),
        (4, "plugbay.testing._fake"),
        (4, "plugbay.testing._fake.x"),
        (6, "plugbay._types"),
        (6, "plugbay._types.Y"),
    ]


def test_every_plugin_is_scanned():
    plugins = {path.relative_to(ROOT / "plugins").parts[0] for path in SOURCES}
    assert plugins >= {"anthropic", "cache", "echo", "gemini", "keys", "openai", "ratelimit"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT / "plugins")))
def test_plugins_import_nothing_private(path: Path):
    found = private_imports(path.read_text(encoding="utf-8"))
    assert found == [], f"{path.relative_to(ROOT)} imports private plugbay modules: {found}"
