"""A plugbay app served for real on 127.0.0.1, in a background thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import uvicorn

from plugbay import _protocol
from plugbay._app import create_app
from plugbay._settings import Settings, parse_settings

if TYPE_CHECKING:
    import httpx
    from litestar import Litestar

    from plugbay._gateway import Gateway

__all__ = ["GatewayServer", "RunningGateway", "build_settings"]

MASTER_KEY = "sk-test-master-key-0123456789"


def build_settings(
    config: dict[str, Any] | None = None,
    *,
    database: str | Path | None = None,
    master_key: str | None = MASTER_KEY,
) -> Settings:
    """Settings from a config document (the TOML file's shape, as a dict)."""
    data: dict[str, Any] = dict((config or {}).items())
    server = dict(data.get("server", {}))
    if database is not None:
        server.setdefault("database", str(database))
    data["server"] = server
    if master_key is not None:
        data["auth"] = {"master_key": master_key, **data.get("auth", {})}
    settings = parse_settings(data, source="test config")
    if config is None:
        settings.source = None  # no config file: the embedded default applies
    return settings


class GatewayServer:
    """Serve ``app`` with uvicorn on a free port until :meth:`stop`."""

    def __init__(self, app: Litestar, host: str = "127.0.0.1") -> None:
        self.app = app
        config = uvicorn.Config(
            app,
            host=host,
            port=0,
            lifespan="on",
            log_level="warning",
            access_log=False,
            loop="asyncio",
            http="httptools",
            timeout_graceful_shutdown=2,
        )
        server = app.state.gateway.settings.server
        _protocol.configure(
            config, server.header_timeout, server.body_timeout, server.min_body_rate
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.port = 0
        self.host = host

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def start(self, timeout: float = 60.0) -> Self:
        self._thread = threading.Thread(target=self._run, name="plugbay-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the gateway failed to start (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not start")
            time.sleep(0.01)
        servers = self.server.servers
        self.port = servers[0].sockets[0].getsockname()[1]
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve())
        except SystemExit:  # uvicorn exits when start-up fails; start() reports it
            pass

    def stop(self, timeout: float = 60.0) -> None:
        if self._thread is not None:
            self.server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the gateway did not stop in {timeout} s")
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RunningGateway(GatewayServer):
    """A :class:`GatewayServer` with the key it was configured with."""

    def __init__(
        self,
        settings: Settings,
        plugins: Sequence[object] | None = None,
        api_key: str | None = MASTER_KEY,
    ) -> None:
        super().__init__(create_app(settings, plugins))
        self.settings = settings
        self.api_key = api_key
        self._clients: list[Any] = []

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self, timeout: float = 60.0) -> Self:
        # a bad config raises its ConfigError here, not "failed to start" from the server thread
        self.gateway.check_config()
        return super().start(timeout)

    def openai(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` client for this gateway (needs the ``openai`` package)."""
        import openai

        kwargs.setdefault("api_key", self.api_key)
        kwargs.setdefault("max_retries", 0)
        client = openai.OpenAI(base_url=self.base_url, **kwargs)
        self._clients.append(client)
        return client

    def http(self, *, auth: bool = True, api_key: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` for this gateway; it sends ``api_key`` (default: this gateway's
        key) as a bearer token, or no credential with ``auth=False``."""
        import httpx

        key = (api_key or self.api_key) if auth else None
        headers = dict(kwargs.pop("headers", None) or {})
        if key:
            headers.setdefault("authorization", f"Bearer {key}")
        kwargs.setdefault("timeout", 60)
        client = httpx.Client(base_url=self.url, headers=headers, **kwargs)
        self._clients.append(client)
        return client

    def stop(self, timeout: float = 60.0) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        super().stop(timeout)
