"""The gateway under test and what tests see of the scripted upstream.

Providers (all pointing at the scripted upstream on 127.0.0.1):

- ``claude`` → type ``anthropic``, tool-mode structured output;
- ``claude-native`` → type ``anthropic`` with ``structured_output = "native"`` and a beta;
- ``claude-vertex`` → type ``vertex-anthropic``, project ``my-project`` in ``us-east5``.
"""

from __future__ import annotations

from typing import Any

from claude_wire import Script

from plugbay.testing import EventRecorder, RecordedRequest, ScriptedUpstream

API_KEY = "sk-ant-api03-test"
VERTEX_TOKEN = "ya29.test-access-token"


def gateway_config(upstream: ScriptedUpstream) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "anthropic",
                "type": "anthropic",
                "base_url": upstream.url,
                "api_key": API_KEY,
            },
            {
                "name": "anthropic-native",
                "type": "anthropic",
                "base_url": upstream.url,
                "api_key": API_KEY,
                "structured_output": "native",
                "beta": ["interleaved-thinking-2025-05-14"],
                "default_max_tokens": 1024,
            },
            {
                "name": "vertex",
                "type": "vertex-anthropic",
                "base_url": upstream.url + "/v1",
                "api_key": VERTEX_TOKEN,
                "project": "my-project",
                "region": "us-east5",
                "default_max_tokens": 2048,
            },
        ],
        "models": [
            {"name": "claude", "provider": "anthropic", "upstream_model": "claude-sonnet-4-5"},
            {
                "name": "claude-native",
                "provider": "anthropic-native",
                "upstream_model": "claude-sonnet-4-5",
            },
            {
                "name": "claude-vertex",
                "provider": "vertex",
                "upstream_model": "claude-sonnet-4-5@20250929",
            },
        ],
    }


Recorder = EventRecorder


class Upstream:
    """The scripted upstream as a test sees it: what to answer, what it received."""

    def __init__(self, server: ScriptedUpstream, script: Script) -> None:
        self.server = server
        self.script = script

    def add(self, *replies: Any) -> None:
        self.script.add(*replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    @property
    def last(self) -> RecordedRequest:
        assert self.server.requests, "the upstream received nothing"
        return self.server.requests[-1]

    def body(self) -> Any:
        return self.last.json()
