"""The plugin as a distribution: entry point, hooks, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from gemini_wire import GENERATE, PUBLIC, answer, gemini_config, gemini_json

import plugbay_gemini
from plugbay import AdapterRegister
from plugbay.testing import RunningGateway, ScriptedUpstream
from plugbay_gemini.provider import GeminiOptions, GeminiProvider, VertexOptions, VertexProvider


def test_entry_point() -> None:
    found = {ep.name: ep for ep in entry_points(group="plugbay")}
    assert found["gemini"].value == "plugbay_gemini"
    assert found["gemini"].dist is not None
    assert found["gemini"].dist.name == "plugbay-gemini"


def registered_adapters(plugin: Any) -> dict[str, tuple[Any, Any]]:
    """What the plugin registers, through the core's own registrar (which checks it)."""
    found: dict[str, Any] = {}
    plugin.plugbay_register_adapters(AdapterRegister(plugin.__name__, found))
    return {name: (adapter.factory, adapter.options) for name, adapter in found.items()}


def test_registers_both_types() -> None:
    assert registered_adapters(plugbay_gemini) == {
        "gemini": (GeminiProvider, GeminiOptions),
        "vertex": (VertexProvider, VertexOptions),
    }


def test_import_is_light() -> None:
    """google-auth, the HTTP clients (and the translation work) load only when needed."""
    heavy = ("google", "requests", "httpx", "aiohttp", "litestar", "uvicorn", "cryptography")
    code = (
        "import sys, plugbay_gemini; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_discovered_through_its_entry_point(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> None:
    gateway = make_gateway(gemini_config(scripted_upstream.url))  # no explicit plugins
    scripted_upstream.script(gemini_json(answer([{"text": "found"}])), path=GENERATE)
    reply = gateway.openai().chat.completions.create(
        model=PUBLIC, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "found"
