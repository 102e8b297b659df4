"""One scripted Anthropic upstream and one gateway in front of it, shared by the suite
(see :mod:`claude_gateway`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from claude_gateway import Recorder, Upstream, gateway_config
from claude_wire import Script

import plugbay_anthropic
from plugbay.testing import RunningGateway, ScriptedUpstream, build_settings


@pytest.fixture(scope="session")
def _script() -> Script:
    return Script()


@pytest.fixture(scope="session")
def _server(_script: Script) -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream(default=_script) as server:
        yield server


@pytest.fixture(scope="session")
def _recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def gateway(
    _server: ScriptedUpstream, _recorder: Recorder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    database: Path = tmp_path_factory.mktemp("anthropic") / "plugbay.db"
    settings = build_settings(gateway_config(_server), database=database)
    server = RunningGateway(settings, [plugbay_anthropic, _recorder]).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(_server: ScriptedUpstream, _script: Script) -> Iterator[Upstream]:
    """The shared upstream, emptied for this test; every scripted reply must be used."""
    _script.replies.clear()
    _server.requests.clear()
    yield Upstream(_server, _script)
    left = len(_script.replies)
    _script.replies.clear()
    assert not left, f"{left} scripted replies were never requested"


@pytest.fixture
def finished(_recorder: Recorder) -> Recorder:
    """The gateway's request-finished events."""
    return _recorder


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    client: openai.OpenAI = gateway.openai()
    return client
