"""pytest fixtures for plugbay and its plugins (registered through the ``pytest11`` entry point).

- ``make_client(config, plugins=...)``: a gateway answering in-process (no socket), the
  fastest; what most tests want.
- ``make_gateway(config, plugins=...)``: a gateway served for real on 127.0.0.1 (uvicorn in a
  thread), for tests of streaming timing, client disconnects and slow clients.
- ``scripted_upstream``: a real HTTP server to put behind either.
- ``event_recorder``: an :class:`~plugbay.testing.EventRecorder` to add to ``plugins``.
- ``fake_adapter``: a :class:`~plugbay.testing.fake.FakeAdapter` (adapter type ``fake``).
- ``master_key``: the master key both gateways accept.

Each gateway gets its own SQLite file in the test's ``tmp_path``; pass ``plugins`` to register
exactly those (entry points are then not loaded). The factories' types are in
:mod:`plugbay.testing.factories`.

pytest imports this module in every run of every project that has plugbay installed, so the
fixtures import the test kit (Litestar, uvicorn, aiohttp...) in their bodies, when first used.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from plugbay.testing.client import InProcessGateway
    from plugbay.testing.factories import MakeClient, MakeGateway
    from plugbay.testing.fake import FakeAdapter
    from plugbay.testing.gateway import RunningGateway
    from plugbay.testing.recorder import EventRecorder
    from plugbay.testing.upstream import ScriptedUpstream


@pytest.fixture
def master_key() -> str:
    """The master key gateways from ``make_gateway`` and ``make_client`` accept."""
    from plugbay.testing.gateway import MASTER_KEY

    return MASTER_KEY


@pytest.fixture
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    """A real HTTP server on 127.0.0.1; unscripted, it answers like OpenAI's API."""
    from plugbay.testing.upstream import ScriptedUpstream

    with ScriptedUpstream() as upstream:
        yield upstream


@pytest.fixture
def event_recorder() -> EventRecorder:
    """A plugin keeping every request-finished event: add it to a gateway's ``plugins``."""
    from plugbay.testing.recorder import EventRecorder

    return EventRecorder()


@pytest.fixture
def fake_adapter() -> FakeAdapter:
    """The ``fake`` adapter type, as a plugin object recording the requests that reach it."""
    from plugbay.testing.fake import FakeAdapter

    return FakeAdapter()


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[MakeGateway]:
    """Serve gateways on 127.0.0.1: ``make_gateway(config, plugins=None, master_key=...)``."""
    from plugbay.testing.gateway import MASTER_KEY, RunningGateway, build_settings

    started: list[RunningGateway] = []

    def make(
        config: dict[str, Any] | None = None,
        plugins: Sequence[object] | None = None,
        *,
        master_key: str | None = MASTER_KEY,
        database: str | Path | None = None,
    ) -> RunningGateway:
        db = database or tmp_path / f"plugbay-{len(started)}.db"
        settings = build_settings(config, database=db, master_key=master_key)
        gateway = RunningGateway(settings, plugins, api_key=master_key).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in reversed(started):
        gateway.stop()


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[MakeClient]:
    """In-process gateways: ``make_client(config, plugins=None, master_key=...)``."""
    from plugbay.testing.client import InProcessGateway
    from plugbay.testing.gateway import MASTER_KEY, build_settings

    started: list[InProcessGateway] = []

    def make(
        config: dict[str, Any] | None = None,
        plugins: Sequence[object] | None = None,
        *,
        master_key: str | None = MASTER_KEY,
        database: str | Path | None = None,
    ) -> InProcessGateway:
        db = database or tmp_path / f"plugbay-inproc-{len(started)}.db"
        settings = build_settings(config, database=db, master_key=master_key)
        gateway = InProcessGateway(settings, plugins, api_key=master_key)
        started.append(gateway)
        return gateway.start()

    yield make
    for gateway in reversed(started):
        gateway.stop()
