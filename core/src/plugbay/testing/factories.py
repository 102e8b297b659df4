"""The types of the test kit's fixtures: what a test annotates its arguments with.

As tox's ``ToxProjectCreator``: a fixture that makes things is a callable whose signature is
declared here once, so a test (or a plugin's conftest) is type-checked against it::

    from plugbay.testing.factories import MakeClient

    def test_models(make_client: MakeClient) -> None:
        gw = make_client(CONFIG, plugins=[my_plugin])
        assert gw.openai().models.list().data
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import httpx

    from plugbay._gateway import Gateway
    from plugbay._settings import Settings
    from plugbay.testing.client import InProcessGateway
    from plugbay.testing.gateway import RunningGateway

__all__ = ["GatewayClient", "MakeClient", "MakeGateway"]


class GatewayClient(Protocol):
    """What both a served (:class:`~plugbay.testing.RunningGateway`) and an in-process
    (:class:`~plugbay.testing.InProcessGateway`) gateway offer a test."""

    settings: Settings
    api_key: str | None

    @property
    def url(self) -> str:
        """Where the gateway answers (``http://host:port``, or an in-process address)."""

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``url + "/v1"``)."""

    @property
    def gateway(self) -> Gateway: ...

    def http(self, *, auth: bool = True, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for the gateway (closed when the gateway stops)."""

    def openai(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client for the gateway (closed when the gateway stops)."""

    def stop(self) -> None: ...


class MakeGateway(Protocol):
    """The ``make_gateway`` fixture: serve a gateway for real on 127.0.0.1 (uvicorn, in a
    thread), with its own SQLite file; stopped at the end of the test."""

    def __call__(
        self,
        config: dict[str, Any] | None = None,
        plugins: Sequence[object] | None = None,
        *,
        master_key: str | None = ...,
        database: str | Path | None = None,
    ) -> RunningGateway:
        """:param config: the config document (the TOML file's shape, as a dict); ``None``
            is the embedded default.
        :param plugins: plugin modules or objects to register instead of the installed
            entry points (the built-in plugins are registered too).
        :param master_key: the master key (``master_key`` fixture's by default); ``None``
            for none.
        :param database: the SQLite file (default: a new one in the test's ``tmp_path``).
        """


class MakeClient(Protocol):
    """The ``make_client`` fixture: a gateway answering in-process (no socket), with its own
    SQLite file; stopped at the end of the test. Same arguments as :class:`MakeGateway`."""

    def __call__(
        self,
        config: dict[str, Any] | None = None,
        plugins: Sequence[object] | None = None,
        *,
        master_key: str | None = ...,
        database: str | Path | None = None,
    ) -> InProcessGateway: ...


if TYPE_CHECKING:

    def _both_are_gateway_clients(
        served: RunningGateway, in_process: InProcessGateway
    ) -> tuple[GatewayClient, GatewayClient]:
        return served, in_process  # mypy checks that both keep the protocol
