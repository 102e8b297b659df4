"""plugbay-echo keeps the adapter contract (plugbay.testing.ProviderConformance).

Echo has no upstream: it answers the suite's prompt itself, so the tests of upstream errors
and of a client leaving (which closes the upstream) are skipped.
"""

from __future__ import annotations

from typing import Any

import plugbay_echo
from plugbay.testing import ProviderConformance, Scenario, ScriptedUpstream


class TestEchoConformance(ProviderConformance):
    plugins = (plugbay_echo,)
    scripted = False

    def provider(self, upstream: ScriptedUpstream) -> dict[str, Any]:
        return {"type": "echo"}

    def expected_tool_calls(self, scenario: Scenario) -> list[tuple[str, dict[str, Any]]]:
        # a forced tool gets the echoed text as its arguments
        return [(scenario.tools[0]["function"]["name"], {"text": scenario.text})]

    def expected_usage(self, scenario: Scenario, *, tools: bool) -> tuple[int, int]:
        words = len(scenario.text.split())
        return words, 0 if tools else words
