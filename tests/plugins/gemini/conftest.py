from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from gemini_wire import gemini_config

import plugbay_gemini
from plugbay.testing import RunningGateway, ScriptedUpstream


@dataclass
class Gemini:
    """A gateway serving ``gemini-flash`` from a scripted Gemini upstream."""

    gateway: RunningGateway
    upstream: ScriptedUpstream
    client: openai.OpenAI

    def sent(self, index: int = -1) -> Any:
        """The JSON body of a request the upstream received (waiting for it to finish)."""
        requests = self.upstream.wait_for(len(self.upstream.requests))
        return requests[index].json()


@pytest.fixture
def gemini(
    make_gateway: Callable[..., RunningGateway], scripted_upstream: ScriptedUpstream
) -> Gemini:
    gateway = make_gateway(gemini_config(scripted_upstream.url), plugins=[plugbay_gemini])
    return Gemini(gateway, scripted_upstream, gateway.openai())
