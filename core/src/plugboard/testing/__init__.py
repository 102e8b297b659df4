"""The test kit for plugboard and its plugins (also a pytest plugin: ``plugboard.testing``).

- :class:`ScriptedUpstream`: a real HTTP server on 127.0.0.1 that answers with scripted
  :class:`Reply` objects (any vendor's wire format) and records what it received; with nothing
  scripted it behaves like a small OpenAI-compatible server.
- :class:`GatewayServer`: a plugboard app served by uvicorn on 127.0.0.1 in a thread.
- Fixtures (see :mod:`plugboard.testing.pytest_plugin`): ``scripted_upstream``,
  ``make_gateway``, ``master_key``.
"""

from __future__ import annotations

from plugboard.testing.gateway import GatewayServer, RunningGateway, build_settings
from plugboard.testing.process import ServeProcess, free_port, install_plugin
from plugboard.testing.recorder import EventRecorder
from plugboard.testing.upstream import RecordedRequest, Reply, ScriptedUpstream

__all__ = [
    "EventRecorder",
    "GatewayServer",
    "RecordedRequest",
    "Reply",
    "RunningGateway",
    "ScriptedUpstream",
    "ServeProcess",
    "build_settings",
    "free_port",
    "install_plugin",
]
