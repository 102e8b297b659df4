"""Model metadata on ``/v1/models`` and ``/admin/providers``: capabilities, context window,
prices and provider status, read with the openai SDK where a client would."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest

from plugbay import BaseProvider, ChatRequest, ChatResponse, hookimpl
from plugbay._settings import ConfigError
from plugbay.schemas import Capabilities
from plugbay.testing import Reply
from tests.core.support import CHAT, canned, relay, relay_config

ALL_UNKNOWN = dict.fromkeys(("chat", "embeddings", "tools", "vision", "streaming"))


class Declaring(BaseProvider):
    capabilities = Capabilities(chat=True, tools=True, vision=False, streaming=False)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError


class DeclaringPlugin:
    @hookimpl
    def plugbay_register_adapters(self, register: Callable[..., None]) -> None:
        register("declaring", Declaring)


def config(upstream: str) -> dict:
    cfg = relay_config(upstream)
    cfg["providers"] += [{"name": "c", "type": "canned"}, {"name": "d", "type": "declaring"}]
    cfg["models"] = [
        {"name": "public", "provider": "up", "upstream_model": "gpt-4o"},
        {
            "name": "vision",
            "provider": "up",
            "upstream_model": "house-model",
            "context_window": 128000,
            "capabilities": {"vision": True, "embeddings": False},
            "price": {"input": 1.0, "output": 2.0},
        },
        {"name": "canned", "provider": "c", "upstream_model": "who-knows"},
        {"name": "declared", "provider": "d"},
    ]
    return cfg


@pytest.fixture
def gw(make_gateway, scripted_upstream):
    return make_gateway(
        config(scripted_upstream.base_url), plugins=[relay, canned, DeclaringPlugin()]
    )


def by_id(gw) -> dict[str, dict]:
    models = gw.openai().models.list()  # the SDK accepts the extended entries
    assert all(m.object == "model" for m in models.data)
    return {m.id: m.model_dump() for m in models.data}


def test_models_carry_capabilities_context_window_prices_and_status(gw):
    models = by_id(gw)
    assert sorted(models) == ["canned", "declared", "public", "vision"]

    public = models["public"]
    assert public["owned_by"] == "up"
    # The relay overrides chat, chat_stream and embeddings; tools and vision nobody said.
    assert public["capabilities"] == {
        **ALL_UNKNOWN,
        "chat": True,
        "streaming": True,
        "embeddings": True,
    }
    assert public["context_window"] is None  # not configured: never guessed
    # gpt-4o from the shipped price table, USD per million tokens.
    assert public["pricing"] == {"input": 2.5, "output": 10.0, "cached_input": 1.25}
    assert public["status"] == "healthy"

    vision = models["vision"]
    assert vision["capabilities"]["vision"] is True  # the model's config wins
    assert vision["capabilities"]["embeddings"] is False
    assert vision["capabilities"]["chat"] is True  # the rest still from the adapter
    assert vision["context_window"] == 128000
    assert vision["pricing"] == {"input": 1.0, "output": 2.0, "cached_input": 1.0}

    canned_model = models["canned"]
    assert canned_model["capabilities"]["embeddings"] is False  # not overridden
    assert canned_model["pricing"] is None  # unknown model, no price configured

    declared = models["declared"]["capabilities"]
    assert declared == {**ALL_UNKNOWN, "chat": True, "tools": True, "vision": False,
                        "streaming": False}  # fmt: skip


def test_retrieve_carries_the_same_metadata(gw):
    model = gw.openai().models.retrieve("vision").model_dump()
    assert model == by_id(gw)["vision"]


def test_status_follows_measured_failures(gw, scripted_upstream):
    client = gw.openai()
    for _ in range(3):
        scripted_upstream.script(Reply.error(503, "overloaded", type="server_error"))
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(**CHAT)
    models = by_id(gw)
    assert models["public"]["status"] == models["vision"]["status"] == "degraded"
    assert models["canned"]["status"] == "healthy"  # another provider
    client.chat.completions.create(**CHAT)
    assert by_id(gw)["public"]["status"] == "healthy"


def test_admin_providers_carry_capabilities_models_and_state(gw, master_key):
    response = httpx.get(
        gw.url + "/admin/providers", headers={"authorization": f"Bearer {master_key}"}
    )
    assert response.status_code == 200
    providers = {p["name"]: p for p in response.json()["data"]}
    up = providers["up"]
    assert up["status"] == "ok"
    assert up["state"] == "healthy"
    assert up["capabilities"] == {**ALL_UNKNOWN, "chat": True, "streaming": True,
                                  "embeddings": True}  # fmt: skip
    models = {m["id"]: m for m in up["models"]}
    assert sorted(models) == ["public", "vision"]
    assert models["vision"]["context_window"] == 128000
    assert models["public"]["pricing"]["input"] == 2.5
    assert providers["d"]["capabilities"]["tools"] is True
    assert [m["id"] for m in providers["c"]["models"]] == ["canned"]


def test_capabilities_in_model_config_are_validated(make_gateway, scripted_upstream):
    cfg = relay_config(scripted_upstream.base_url)
    cfg["models"][0]["capabilities"] = {"telepathy": True}
    with pytest.raises(ConfigError, match="telepathy"):
        make_gateway(cfg, plugins=[relay])
