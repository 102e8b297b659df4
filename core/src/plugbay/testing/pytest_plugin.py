"""pytest fixtures for plugbay and its plugins (registered through the ``pytest11`` entry point).

``make_gateway(config, plugins=...)`` serves a gateway for real on 127.0.0.1 with its own
SQLite file; ``scripted_upstream`` is a real HTTP server to put behind it. Pass ``plugins``
to register exactly those (entry points are then not loaded).

pytest imports this module in every run of every project that has plugbay installed, so the
fixtures import the test kit (Litestar, uvicorn, aiohttp...) in their bodies, when first used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from plugbay.testing.gateway import RunningGateway
    from plugbay.testing.upstream import ScriptedUpstream

MakeGateway = Callable[..., "RunningGateway"]


@pytest.fixture
def master_key() -> str:
    """The master key gateways from ``make_gateway`` accept."""
    from plugbay.testing.gateway import MASTER_KEY

    return MASTER_KEY


@pytest.fixture
def scripted_upstream() -> Iterator[ScriptedUpstream]:
    """A real HTTP server on 127.0.0.1; unscripted, it answers like OpenAI's API."""
    from plugbay.testing.upstream import ScriptedUpstream

    with ScriptedUpstream() as upstream:
        yield upstream


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[MakeGateway]:
    """Start gateways: ``make_gateway(config_dict, plugins=None, master_key=...)``."""
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
