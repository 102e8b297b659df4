"""Importing plugbay is cheap (issue 8).

Every plugin imports :mod:`plugbay` for ``hookimpl``, and pytest imports the test kit's plugin
in every run of every project that has plugbay installed, so neither may load the gateway's
dependencies. The module checks are exact; the timing checks back them up with wide margins.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from types import ModuleType

import pytest

import plugbay
import plugbay.testing
from tests.helpers import HEAVY_MODULES, clean_env, heavy_modules, modules_after

# Public modules a plugin imports at the top of its own modules.
LIGHT_MODULES = [
    "plugbay",
    "plugbay._errors",
    "plugbay.hookspecs",
    "plugbay._protocols",
    "plugbay._providers",
    "plugbay.schemas",
    "plugbay._settings",
    "plugbay._types",
    "plugbay.wire",
]

# The test kit's heavy parts, which the fixtures import when first used.
KIT_MODULES = {
    "openai",
    "plugbay.testing.gateway",
    "plugbay.testing.openai_upstream",
    "plugbay.testing.process",
    "plugbay.testing.upstream",
}

PLUGBAY_BUDGET_MS = 150.0
PYTEST_PLUGIN_BUDGET_MS = 20.0
ATTEMPTS = 10  # best of; stops at the first run within budget

HINT = "python -X importtime -c 'import {}' shows which import brings it in"


@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_light_modules_load_no_heavy_dependency(module: str) -> None:
    loaded = modules_after(f"import {module}")
    assert heavy_modules(loaded) == [], HINT.format(module)


def test_pytest_plugin_loads_no_heavy_dependency_nor_the_kit() -> None:
    plugin = "plugbay.testing.pytest_plugin"
    before = modules_after("import pytest")
    loaded = modules_after(f"import pytest\nimport {plugin}")
    assert plugin in loaded
    assert heavy_modules(loaded, (*HEAVY_MODULES, "openai")) == [], HINT.format(plugin)
    assert sorted(KIT_MODULES & loaded) == []
    new = sorted(name for name in loaded - before if not name.startswith("plugbay"))
    assert new == [], "the plugin should need nothing pytest has not imported already"


@pytest.mark.parametrize("package", ["plugbay", "plugbay.testing"])
def test_every_public_name_resolves(package: str) -> None:
    # in a fresh interpreter, so that dir() runs before any name has been looked up
    code = f"""
import {package} as package
listed = dir(package)
missing = [name for name in package.__all__ if name not in listed]
assert not missing, f"not in dir(): {{missing}}"
for name in package.__all__:
    assert getattr(package, name) is not None, name
namespace = {{}}
exec("from {package} import *", namespace)
assert set(package.__all__) <= namespace.keys()
assert not hasattr(package, "NoSuchName")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_submodules_still_import_through_the_package() -> None:
    from plugbay.testing import fake  # a submodule, not a lazy name

    assert fake.__name__ == "plugbay.testing.fake"


@pytest.mark.parametrize("package", [plugbay, plugbay.testing], ids=lambda p: p.__name__)
def test_lazy_names_match_the_type_checking_imports(package: ModuleType) -> None:
    """What mypy and IDEs see (the ``TYPE_CHECKING`` imports) is what ``__getattr__`` returns."""
    assert package.__file__
    lazy: dict[str, str] = package._LAZY
    typed: dict[str, str] = {}
    for node in ast.parse(Path(package.__file__).read_text()).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module
                typed.update(dict.fromkeys((a.name for a in statement.names), statement.module))
    assert typed == lazy
    assert set(lazy) == set(package.__all__) - {"hookimpl"}
    for name, module in lazy.items():
        assert getattr(package, name) is getattr(import_module(module), name)


# --- timing, with bytecode as a real install has it -----------------------------------------


@pytest.fixture(scope="module")
def bytecode_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose imports read .pyc files, kept in a private prefix.

    uv installs without compiling and the test envs set PYTHONDONTWRITEBYTECODE, so without
    this every import would compile from source, which a real install never does. One run with
    bytecode writing on fills the prefix; the source tree and the venv are left untouched.
    """
    env = clean_env(PYTHONPYCACHEPREFIX=str(tmp_path_factory.mktemp("pycache")))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    warm = "import pytest, plugbay, plugbay.testing.pytest_plugin"
    result = subprocess.run(
        [sys.executable, "-c", warm], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert any(Path(env["PYTHONPYCACHEPREFIX"]).iterdir()), "no bytecode was written"
    return env


def top_level_imports(code: str, env: dict[str, str]) -> list[tuple[str, float]]:
    """``(module, cumulative ms)`` for each import ``code`` itself made, from -X importtime."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = []
    for line in result.stderr.splitlines():
        # "import time: <self us> | <cumulative us> | <two spaces per nesting level><name>"
        if not line.startswith("import time:") or line.endswith("imported package"):
            continue
        _, cumulative, name = line.split("|")
        name = name.removeprefix(" ")
        if not name.startswith(" "):
            rows.append((name, int(cumulative) / 1000))
    return rows


def best_of(measure: Callable[[], float], budget: float) -> tuple[float, list[float]]:
    """Best of up to :data:`ATTEMPTS` runs; a busy machine only ever makes a run slower."""
    seen: list[float] = []
    for _ in range(ATTEMPTS):
        seen.append(measure())
        if seen[-1] < budget:
            break
    return min(seen), seen


@pytest.mark.slow
def test_import_plugbay_is_within_budget(bytecode_env: dict[str, str]) -> None:
    def measure() -> float:
        rows = dict(top_level_imports("import plugbay", bytecode_env))
        return rows["plugbay"]  # cumulative: pluggy and everything else it imports

    best, seen = best_of(measure, PLUGBAY_BUDGET_MS)
    assert best < PLUGBAY_BUDGET_MS, f"import plugbay took {seen} ms"


@pytest.mark.slow
def test_pytest_plugin_is_within_budget(bytecode_env: dict[str, str]) -> None:
    def measure() -> float:
        rows = top_level_imports(
            "import pytest\nimport plugbay.testing.pytest_plugin", bytecode_env
        )
        names = [name for name, _ in rows]
        after_pytest = rows[names.index("pytest") + 1 :]
        return sum(ms for _, ms in after_pytest)

    best, seen = best_of(measure, PYTEST_PLUGIN_BUDGET_MS)
    assert best < PYTEST_PLUGIN_BUDGET_MS, f"the plugin added {seen} ms to pytest's start-up"
