from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

import plugbay_ratelimit
from plugbay import Principal, hookimpl

MODELS = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [
        {"name": "small", "provider": "local"},
        {"name": "big", "provider": "local"},
    ],
}


class KeyedAuth:
    """Bearer tokens ``key-<id>`` become principals with the limits given for ``<id>``, if any."""

    def __init__(self, limits: Mapping[str, Mapping[str, int | None]]) -> None:
        self.principals = {
            f"key-{key_id}": Principal(key_id=key_id, name=key_id, **values)
            for key_id, values in limits.items()
        }

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        token = token or ""
        if token in self.principals:
            return self.principals[token]
        if token.startswith("key-"):
            return Principal(key_id=token[4:], name=token[4:])
        return None

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def limited_gateway(make_gateway, fake_adapter):
    """``limited_gateway(ratelimit_table, keys={id: {rpm, tpm, max_parallel}})``."""

    def make(ratelimit: dict[str, Any] | None = None, keys: Mapping[str, Any] | None = None):
        config = {**MODELS, "ratelimit": ratelimit or {}}
        plugins = [fake_adapter, plugbay_ratelimit, KeyedAuth(keys or {})]
        return make_gateway(config, plugins=plugins)

    return make


@pytest.fixture
def upstream_calls(fake_adapter) -> list[str]:
    return fake_adapter.calls
