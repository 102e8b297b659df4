"""A real ``redis-server`` on a free port, started once for this directory's tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
import redis

import plugbay_cache
import plugbay_ratelimit
from plugbay import Principal, hookimpl
from plugbay.testing import fake, free_port

MODELS = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [{"name": "small", "provider": "local"}],
}


class RedisServer:
    def __init__(self, directory: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip(
            "redis-server is not installed (Debian package redis-server; .ci/run installs it)"
        )
    server = RedisServer(str(tmp_path_factory.mktemp("redis")))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    redis_server.client.flushall()
    return redis_server.url


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: Redis hanging."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    listener.close()


class KeyedAuth:
    """Bearer ``key-<id>``: a principal with key id ``<id>``, limits from ``limits``."""

    def __init__(self, limits: Mapping[str, Mapping[str, int]] | None = None) -> None:
        self.limits = limits or {}

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if not token or not token.startswith("key-"):
            return None
        key_id = token[4:]
        return Principal(key_id=key_id, name=key_id, **self.limits.get(key_id, {}))

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream_calls() -> list[str]:
    fake.calls.clear()
    return fake.calls


@pytest.fixture
def redis_gateway(make_gateway, upstream_calls) -> Callable[..., Any]:
    """``redis_gateway(redis_table, ratelimit=..., cache=..., keys=...)`` on the Redis backends."""

    def make(
        redis_table: dict[str, Any],
        *,
        ratelimit: dict[str, Any] | None = None,
        cache: dict[str, Any] | None = None,
        keys: Mapping[str, Mapping[str, int]] | None = None,
    ):
        config: dict[str, Any] = {**MODELS, "redis": redis_table}
        plugins: list[Any] = [fake, KeyedAuth(keys)]
        if ratelimit is not None:
            config["ratelimit"] = {"backend": "redis", **ratelimit}
            plugins.append(plugbay_ratelimit)
        if cache is not None:
            config["cache"] = {"backend": "redis", **cache}
            plugins.append(plugbay_cache)
        return make_gateway(config, plugins=plugins)

    return make
