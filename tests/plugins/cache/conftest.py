from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

import plugbay_cache
from plugbay import Principal, hookimpl
from plugbay.testing import EventRecorder, fake

MODELS = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [
        {"name": "small", "provider": "local"},
        {"name": "big", "provider": "local"},
    ],
}


class TwoKeys:
    """Bearer ``key-one`` and ``key-two``: two principals."""

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if token in ("key-one", "key-two"):
            return Principal(key_id=token, name=token)
        return None

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)


@pytest.fixture
def two_keys() -> TwoKeys:
    return TwoKeys()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream_calls() -> list[str]:
    fake.calls.clear()
    return fake.calls


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def cached_gateway(make_gateway, recorder, upstream_calls) -> Callable[..., Any]:
    def make(cache: dict[str, Any] | None = None, **kwargs: Any):
        config = {**MODELS, "cache": cache or {}}
        plugins = [fake, plugbay_cache, recorder, *kwargs.pop("plugins", ())]
        return make_gateway(config, plugins=plugins, **kwargs)

    return make
