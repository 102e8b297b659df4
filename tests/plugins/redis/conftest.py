"""A real ``redis-server`` on a free port, started once for this directory's tests."""

from __future__ import annotations

import contextlib
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
from plugbay._settings import Settings
from plugbay.testing import free_port
from plugbay_redis.ratelimit import RedisLimitStore

MODELS = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [{"name": "small", "provider": "local"}],
}


GENEROUS = 30.0
"""A ``[redis] timeout`` for tests that need Redis to answer: a loaded machine is slow, not down.

With the default (0.25 s) a busy CI runner makes the store fail open now and then, and a
test of exact counting then admits too many.
"""


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
        deadline = time.monotonic() + 60
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
        self.process.wait(30)


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


class SilentRedis:
    """A port that accepts connections and never answers: a Redis that hangs.

    Every command sent to it times out, however busy the machine: the outcome of a test
    against it does not depend on how the timeout races the answer. :meth:`assert_all_closed`
    checks that the client closed every connection it opened (none leaked by a timeout).
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # the listener was closed
                return
            self.accepted.append(conn)

    def assert_all_closed(self, timeout: float = 30.0) -> None:
        """Every accepted connection reads EOF: the client closed its end."""
        assert self.accepted, "nothing ever connected"
        deadline = time.monotonic() + timeout
        for conn in list(self.accepted):
            conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                while conn.recv(65536):  # discard the commands it sent
                    pass
            except TimeoutError:
                raise AssertionError("a connection to the silent Redis is still open") from None
            except ConnectionResetError:
                pass

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self._thread.join(30)
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_redis() -> Iterator[SilentRedis]:
    server = SilentRedis()
    yield server
    server.close()


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port held by this process, bound but not listening: every connection is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{held.getsockname()[1]}/0"


@pytest.fixture(params=["silent", "refused"])
def down_url(request) -> str:
    """A Redis that is down: one that never answers, or nothing listening."""
    if request.param == "silent":
        return request.getfixturevalue("silent_redis").url
    return request.getfixturevalue("refused_url")


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
def upstream_calls(fake_adapter) -> list[str]:
    return fake_adapter.calls


@pytest.fixture
def redis_gateway(make_gateway, fake_adapter) -> Callable[..., Any]:
    """``redis_gateway(redis_table, ratelimit=..., cache=..., keys=...)`` on the Redis backends.

    ``timeout`` is :data:`GENEROUS` unless ``redis_table`` sets one.
    """

    def make(
        redis_table: dict[str, Any],
        *,
        ratelimit: dict[str, Any] | None = None,
        cache: dict[str, Any] | None = None,
        keys: Mapping[str, Mapping[str, int]] | None = None,
    ):
        config: dict[str, Any] = {**MODELS, "redis": {"timeout": GENEROUS, **redis_table}}
        plugins: list[Any] = [fake_adapter, KeyedAuth(keys)]
        if ratelimit is not None:
            config["ratelimit"] = {"backend": "redis", **ratelimit}
            plugins.append(plugbay_ratelimit)
        if cache is not None:
            config["cache"] = {"backend": "redis", "enabled": True, **cache}
            plugins.append(plugbay_cache)
        return make_gateway(config, plugins=plugins)

    return make


@pytest.fixture
async def open_store(redis_url):
    """``await open_store(url=..., **redis_table)``: a started store, closed after the test."""
    opened: list[RedisLimitStore] = []

    async def make(url: str = redis_url, **redis_table) -> RedisLimitStore:
        table = {"url": url, "timeout": GENEROUS, **redis_table}
        store = RedisLimitStore(Settings(extra={"redis": table}))
        await store.start()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.aclose()
