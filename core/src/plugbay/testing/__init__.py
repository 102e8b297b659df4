"""The test kit for plugbay and its plugins (also a pytest plugin: ``plugbay.testing``).

- :class:`ScriptedUpstream`: a real HTTP server on 127.0.0.1 that answers with scripted
  :class:`Reply` objects (any vendor's wire format) and records what it received; with nothing
  scripted it behaves like a small OpenAI-compatible server.
- :class:`GatewayServer`: a plugbay app served by uvicorn on 127.0.0.1 in a thread.
- :class:`InProcessGateway`: a plugbay app answering in-process (no socket), like datasette's
  ``ds.client``.
- :class:`ProviderConformance`: the contract every adapter keeps, as a test class to subclass.
- :class:`~plugbay.testing.fake.FakeAdapter`: adapter type ``fake``, answering from memory.
- Fixtures (see :mod:`plugbay.testing.pytest_plugin`; their types in
  :mod:`plugbay.testing.factories`): ``make_client``, ``make_gateway``, ``scripted_upstream``,
  ``event_recorder``, ``fake_adapter``, ``master_key``.

pytest imports this package in every project that has plugbay installed (for the plugin), so
the names below are imported on first use (PEP 562), not here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from plugbay.testing.client import InProcessGateway
    from plugbay.testing.conformance import ProviderConformance, Scenario
    from plugbay.testing.factories import GatewayClient, MakeClient, MakeGateway
    from plugbay.testing.fake import FakeAdapter
    from plugbay.testing.gateway import GatewayServer, RunningGateway, build_settings
    from plugbay.testing.process import ServeProcess, free_port, install_plugin
    from plugbay.testing.recorder import EventRecorder
    from plugbay.testing.upstream import RecordedRequest, Reply, ScriptedUpstream

# Where each name lives; keep in step with the TYPE_CHECKING imports above.
_LAZY: dict[str, str] = {
    "EventRecorder": "plugbay.testing.recorder",
    "FakeAdapter": "plugbay.testing.fake",
    "GatewayClient": "plugbay.testing.factories",
    "GatewayServer": "plugbay.testing.gateway",
    "InProcessGateway": "plugbay.testing.client",
    "MakeClient": "plugbay.testing.factories",
    "MakeGateway": "plugbay.testing.factories",
    "ProviderConformance": "plugbay.testing.conformance",
    "Scenario": "plugbay.testing.conformance",
    "RecordedRequest": "plugbay.testing.upstream",
    "Reply": "plugbay.testing.upstream",
    "RunningGateway": "plugbay.testing.gateway",
    "ScriptedUpstream": "plugbay.testing.upstream",
    "ServeProcess": "plugbay.testing.process",
    "build_settings": "plugbay.testing.gateway",
    "free_port": "plugbay.testing.process",
    "install_plugin": "plugbay.testing.process",
}

__all__ = [
    "EventRecorder",
    "FakeAdapter",
    "GatewayClient",
    "GatewayServer",
    "InProcessGateway",
    "MakeClient",
    "MakeGateway",
    "ProviderConformance",
    "RecordedRequest",
    "Reply",
    "RunningGateway",
    "Scenario",
    "ScriptedUpstream",
    "ServeProcess",
    "build_settings",
    "free_port",
    "install_plugin",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
