from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import pytest

import plugbay_cache
from plugbay import (
    AdapterRegister,
    AuthenticatorRegister,
    BaseProvider,
    ChatRequest,
    ChatResponse,
    Principal,
    hookimpl,
)
from plugbay.schemas import Usage
from plugbay.testing import EventRecorder
from plugbay.testing.fake import FakeAdapter

MODELS = {
    "providers": [{"name": "local", "type": "fake"}, {"name": "casino", "type": "dice"}],
    "models": [
        {"name": "small", "provider": "local"},
        {"name": "big", "provider": "local"},
        {"name": "dice", "provider": "casino"},
    ],
}


class DiceProvider(BaseProvider):
    """Answers as a sampling model does: the same at temperature 0, a fresh draw otherwise."""

    def __init__(self, ctx: Any, calls: list[str]) -> None:
        super().__init__(ctx)
        self.calls = calls

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request.public_model)
        greedy = request.body.get("temperature") == 0
        text = "always the same" if greedy else f"rolled {secrets.token_hex(8)}"
        usage = Usage(prompt_tokens=3, completion_tokens=2, total_tokens=5)
        body = {
            "id": "chatcmpl-dice",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.public_model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": usage,
        }
        return ChatResponse(msgspec.json.encode(body), usage)


class Dice:
    """The ``dice`` adapter type; its requests are counted in ``calls`` (the fake's, here)."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    @hookimpl
    def plugbay_register_adapters(self, register: AdapterRegister) -> None:
        register.adapter("dice", functools.partial(DiceProvider, calls=self.calls))


class TwoKeys:
    """Bearer ``key-one`` and ``key-two``: two principals."""

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if token in ("key-one", "key-two"):
            return Principal(key_id=token, name=token)
        return None

    @hookimpl
    def plugbay_register_authenticators(self, register: AuthenticatorRegister) -> None:
        register.authenticator(self)


@pytest.fixture
def two_keys() -> TwoKeys:
    return TwoKeys()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def upstream_calls(fake_adapter: FakeAdapter) -> list[str]:
    return fake_adapter.calls


@pytest.fixture
def recorder() -> EventRecorder:
    return EventRecorder()


@pytest.fixture
def cached_gateway(make_gateway, recorder, fake_adapter, upstream_calls) -> Callable[..., Any]:
    """``cached_gateway(cache_table)``; the table opts every model in unless ``opt_in=False``."""

    def make(cache: dict[str, Any] | None = None, *, opt_in: bool = True, **kwargs: Any):
        table = {"enabled": True, **(cache or {})} if opt_in else dict(cache or {})
        config = {**MODELS, "cache": table}
        plugins = [
            fake_adapter,
            Dice(upstream_calls),
            plugbay_cache,
            recorder,
            *kwargs.pop("plugins", ()),
        ]
        return make_gateway(config, plugins=plugins, **kwargs)

    return make
