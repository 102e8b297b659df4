"""Meta-tests: every hookspec is documented with its exact signature, and has a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from plugbay import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
BUILD_HOOKS = {"plugbay_wrap_asgi"}
"""Not registration hooks, but like them sync and called once when the app is built."""
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("plugbay_"))


def signature(name: str) -> str:
    """The spec's signature as the docs write it (annotations as in the source)."""
    annotations = dict(getattr(hookspecs, name).__annotations__)
    returns = annotations.pop("return")
    params = ", ".join(f"{arg}: {kind}" for arg, kind in annotations.items())
    return f"def {name}({params}) -> {returns}"


def sections() -> dict[str, str]:
    text = DOCS.read_text()
    parts = re.split(r"^### `(plugbay_\w+)`\n", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].split("\n## ", 1)[0] for i in range(1, len(parts), 2)}


def test_there_are_hooks():
    assert len(HOOKS) == 13


def test_every_documented_hook_exists():
    assert sorted(sections()) == HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_are_documented(hook):
    section = sections().get(hook)
    assert section is not None, f"docs/plugins.md has no section for {hook}"
    assert f"```python\n{signature(hook)}\n```" in section, (
        f"the documented signature of {hook} is not {signature(hook)}"
    )
    kind = re.search(r"^\*\*Kind:\*\* (.+)$", section, re.MULTILINE)
    assert kind, f"{hook}: no **Kind:** line"
    registration = hook.startswith("plugbay_register_") or hook in BUILD_HOOKS
    if registration:
        assert "sync, called once" in kind[1]
    else:
        assert "`def` or `async def`" in kind[1]
    assert re.search(r"^\*\*When:\*\* \S", section, re.MULTILINE), f"{hook}: no **When:** line"


@pytest.mark.parametrize("hook", HOOKS)
def test_plugin_hooks_have_tests(hook):
    this = Path(__file__).resolve()
    for path in (ROOT / "tests").rglob("test_*.py"):
        if path.resolve() == this:
            continue
        if re.search(rf"\bdef {hook}\(", path.read_text()):
            return
    pytest.fail(f"no test implements {hook}")
