"""The test kit for plugbay and its plugins (also a pytest plugin: ``plugbay.testing``).

- :class:`ScriptedUpstream`: a real HTTP server on 127.0.0.1 that answers with scripted
  :class:`Reply` objects (any vendor's wire format) and records what it received; with nothing
  scripted it behaves like a small OpenAI-compatible server.
- :class:`GatewayServer`: a plugbay app served by uvicorn on 127.0.0.1 in a thread.
- Fixtures (see :mod:`plugbay.testing.pytest_plugin`): ``scripted_upstream``,
  ``make_gateway``, ``master_key``.
"""

from __future__ import annotations

from plugbay.testing.gateway import GatewayServer, RunningGateway, build_settings
from plugbay.testing.process import ServeProcess, free_port, install_plugin
from plugbay.testing.recorder import EventRecorder
from plugbay.testing.upstream import RecordedRequest, Reply, ScriptedUpstream

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
