"""A plugbay app served in-process: requests go straight to the ASGI app, no socket, no server.

Like datasette's ``ds.client``: start-up and shutdown hooks run (the app's lifespan), every
request goes through the whole app, but there is no uvicorn, no port and no thread per
connection, so a gateway starts and stops much faster. Answers are read whole
before the client sees them: tests of client disconnects, of a stream's timing or of
workers need a real server (:class:`~plugbay.testing.RunningGateway`,
:class:`~plugbay.testing.ServeProcess`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self, cast

import httpx
from litestar.testing import TestClient
from litestar.testing.transport import TestClientTransport

from plugbay._app import create_app
from plugbay.testing.gateway import MASTER_KEY

if TYPE_CHECKING:
    from litestar import Litestar

    from plugbay._gateway import Gateway
    from plugbay._settings import Settings

__all__ = ["InProcessGateway"]

BASE_URL = "http://plugbay.test"
"""The (never resolved) address in-process requests are made to."""


class _AppTransport(httpx.BaseTransport):
    """Hands each request to the app, in the test client's event loop."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self._inner = TestClientTransport(client, raise_server_exceptions=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


class InProcessGateway:
    """A gateway app whose clients call it in-process; :meth:`start` runs its start-up.

    :meth:`http` and :meth:`openai` give clients that send their requests to the app; they
    are closed by :meth:`stop`.
    """

    url = BASE_URL

    def __init__(
        self,
        settings: Settings,
        plugins: Sequence[object] | None = None,
        api_key: str | None = MASTER_KEY,
    ) -> None:
        self.settings = settings
        self.api_key = api_key
        self.app: Litestar = create_app(settings, plugins)
        # the test client owns the event loop (a blocking portal in a thread) the app runs in
        self._portal_client: TestClient[Litestar] = TestClient(
            self.app, base_url=BASE_URL, raise_server_exceptions=False, timeout=60
        )
        self._clients: list[Any] = []
        self._started = False

    @property
    def base_url(self) -> str:
        return BASE_URL + "/v1"

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def start(self) -> Self:
        # a bad config raises its ConfigError here, not wrapped by the lifespan's task group
        self.gateway.check_config()
        self._portal_client.__enter__()
        self._started = True
        return self

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self._started:
            self._started = False
            self._portal_client.__exit__(None, None, None)

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport that hands requests to the app."""
        return _AppTransport(self._portal_client)

    def http(self, *, auth: bool = True, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for the app; it sends ``api_key`` (default: this gateway's
        key) as a bearer token, or no credential with ``auth=False``."""
        key = (api_key or self.api_key) if auth else None
        headers = dict(kwargs.pop("headers", None) or {})
        if key:
            headers.setdefault("authorization", f"Bearer {key}")
        kwargs.setdefault("timeout", 60)
        client = httpx.Client(
            transport=self.transport(), base_url=BASE_URL, headers=headers, **kwargs
        )
        self._clients.append(client)
        return client

    def openai(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client for this gateway (needs the ``openai`` package)."""
        import openai

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("max_retries", 0)
        http_client = httpx.Client(transport=self.transport(), timeout=60)
        self._clients.append(http_client)
        # the openai SDK types its http_client against its own pinned httpx
        client = openai.OpenAI(base_url=self.base_url, http_client=cast(Any, http_client), **kwargs)
        self._clients.append(client)
        return client

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
