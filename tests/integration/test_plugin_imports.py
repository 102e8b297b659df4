"""A first-party plugin's package holds only hookimpls: importing it (as ``plugbay plugins``
and every CLI start do) loads no heavy dependency; its adapter loads them when registered."""

from __future__ import annotations

import pytest

from tests.helpers import HEAVY_MODULES, heavy_modules, modules_after

SDKS = ("anthropic", "google", "openai", "redis")


@pytest.mark.parametrize(
    "package",
    [
        "plugbay_anthropic",
        "plugbay_cache",
        "plugbay_echo",
        "plugbay_keys",
        "plugbay_openai",
        "plugbay_ratelimit",
        "plugbay_redis",
    ],
)
def test_plugin_package_loads_no_heavy_dependency(package: str) -> None:
    loaded = modules_after(f"import {package}")
    assert heavy_modules(loaded, (*HEAVY_MODULES, *SDKS)) == []
