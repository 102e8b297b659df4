"""``POST /v1/models/recommend`` ranks by what the router measured, through the gateway.

A `steered` adapter (as in test_router_strategies.py) answers after the delay its test sets
per provider, or fails with a 502 for the providers in `failing`; the figures the ranking
shows are the router's own, from real requests sent first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import msgspec
import pytest

import plugbay
from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    Principal,
    UpstreamError,
    hookimpl,
)
from plugbay._router.recommend import RecommendRequest, recommend, score

ANSWER = msgspec.json.encode(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)


class Steered:
    def __init__(self) -> None:
        self.delays: dict[str, float] = {}
        self.failing: set[str] = set()

    @hookimpl
    def plugbay_register_adapters(self, register: plugbay.AdapterRegister) -> None:
        steered = self

        class Provider(BaseProvider):
            async def chat(self, request: ChatRequest) -> ChatResponse:
                name = self.ctx.name
                if name in steered.failing:
                    raise UpstreamError("down for the test")
                delay = steered.delays.get(name, 0.0)
                if delay:
                    await asyncio.sleep(delay)
                return ChatResponse(ANSWER, plugbay.Usage(1, 1, 2))

        register.adapter("steered", Provider)


class Keys:
    """``key-<name>`` may use the models listed for it here; ``key-nomodels`` lacks the scope."""

    MODELS: Mapping[str, tuple[str, ...]] = {"narrow": ("fast", "slow*")}

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if not token or not token.startswith("key-"):
            return None
        name = token[4:]
        if name == "nomodels":
            return Principal(key_id=name, scopes=frozenset({"chat"}))
        return Principal(key_id=name, models=self.MODELS.get(name))

    @hookimpl
    def plugbay_register_authenticators(self, register: Any) -> None:
        register(self)


PRICES = {"fast": (1.0, 2.0), "slow": (0.5, 1.0), "broken": (0.1, 0.1), "fresh": (10.0, 30.0)}


def setup(make_client: Any) -> tuple[Any, Steered]:
    steered = Steered()
    config = {
        "providers": [{"name": f"p-{m}", "type": "steered"} for m in PRICES],
        "models": [
            {
                "name": m,
                "provider": f"p-{m}",
                "price": {"input": i, "output": o},
                "tags": ["coding"] if m in ("fast", "broken") else ["writing"],
            }
            for m, (i, o) in PRICES.items()
        ],
    }
    return make_client(config, plugins=[steered, Keys()]), steered


def send(gw: Any, model: str, count: int) -> list[int]:
    with gw.http() as http:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return [http.post("/v1/chat/completions", json=body).status_code for _ in range(count)]


def ask(gw: Any, body: Any = None, key: str | None = None) -> Any:
    with gw.http(api_key=key) as http:
        return http.post("/v1/models/recommend", json=body if body is not None else {})


@pytest.fixture
def measured(make_client: Any) -> Any:
    gw, steered = setup(make_client)
    steered.delays = {"p-slow": 0.2}
    steered.failing = {"p-broken"}
    assert send(gw, "fast", 4) == [200] * 4
    assert send(gw, "slow", 4) == [200] * 4
    assert send(gw, "broken", 4) == [502] * 4
    return gw


def test_measured_figures_decide_the_ranking(measured):
    answer = ask(measured)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "list"
    assert body["excluded"] == []
    order = [entry["model"] for entry in body["data"]]
    # at equal success the faster first; the failing one below both; unmeasured last
    assert order == ["fast", "slow", "broken", "fresh"]
    assert [entry["rank"] for entry in body["data"]] == [1, 2, 3, 4]
    fast, slow, broken, fresh = body["data"]
    assert fast["figures"]["requests"] == 4
    assert fast["figures"]["success_rate"] == 1.0
    assert slow["figures"]["latency_ms_avg"] >= 200 > fast["figures"]["latency_ms_avg"]
    assert broken["figures"]["success_rate"] == 0.0
    assert "0 of 4 requests succeeded" in broken["reason"]
    assert fresh["figures"]["success_rate"] is None
    assert fresh["figures"]["requests"] == 0
    assert "No measurements" in fresh["reason"]
    assert fast["figures"]["price"] == {"input": 1.0, "output": 2.0}
    assert fast["figures"]["cost_per_million"] == 3.0
    [deployment] = fast["figures"]["deployments"]
    assert deployment["name"] == "p-fast/fast"
    assert deployment["breaker"] == "closed"
    assert all(entry["excluded"] is False for entry in body["data"])
    assert fast["score"] > slow["score"] > broken["score"] > fresh["score"]


def test_failing_drops_a_model_below_a_healthy_slower_one(make_client):
    gw, steered = setup(make_client)
    steered.delays = {"p-slow": 0.2}
    assert send(gw, "fast", 2) == [200] * 2
    assert send(gw, "slow", 2) == [200] * 2
    assert [e["model"] for e in ask(gw).json()["data"]][:2] == ["fast", "slow"]
    steered.failing = {"p-fast"}
    assert send(gw, "fast", 4) == [502] * 4  # now 2 of 6
    assert [e["model"] for e in ask(gw).json()["data"]][:2] == ["slow", "fast"]


def test_filters_exclude_with_reasons(measured):
    body = ask(measured, {"max_cost": 2.0, "min_success_rate": 0.5, "limit": 10}).json()
    assert [e["model"] for e in body["data"]] == ["slow"]
    reasons = {e["model"]: e["reason"] for e in body["excluded"]}
    assert set(reasons) == {"fast", "broken", "fresh"}
    assert "above `max_cost`" in reasons["fast"]
    assert "above `max_cost`" in reasons["fresh"]
    assert "below `min_success_rate`" in reasons["broken"]
    # an unmeasured model passes min_success_rate, and says why it ranks last
    body = ask(measured, {"min_success_rate": 0.9}).json()
    assert [e["model"] for e in body["data"]] == ["fast", "slow", "fresh"]


def test_task_preferences_exclusions_and_limit(measured):
    body = ask(measured, {"task": "coding"}).json()
    assert [e["model"] for e in body["data"]] == ["fast", "broken"]
    assert {e["model"] for e in body["excluded"]} == {"slow", "fresh"}
    assert [e["model"] for e in ask(measured, {"task": "chat", "limit": 2}).json()["data"]] == [
        "fast",
        "slow",
    ]  # a capability the adapter shows
    body = ask(measured, {"prefer_providers": ["p-slow"], "exclude_models": ["broken"]}).json()
    assert [e["model"] for e in body["data"]] == ["slow", "fast", "fresh"]
    assert "preferred" in body["data"][0]["reason"]
    assert body["excluded"] == [{"model": "broken", "reason": "Excluded by `exclude_models`."}]
    body = ask(measured, {"exclude_providers": ["p-fast"], "prefer_models": ["fresh"]}).json()
    assert [e["model"] for e in body["data"]] == ["slow", "broken", "fresh"]  # measured first
    assert body["excluded"][0]["model"] == "fast"


def test_a_key_sees_only_the_models_it_may_use(measured):
    body = ask(measured, {"limit": 100}, key="key-narrow").json()
    assert [e["model"] for e in body["data"]] == ["fast", "slow"]
    body = ask(measured, {"exclude_models": ["broken", "fast"]}, key="key-narrow").json()
    assert body["excluded"] == [{"model": "fast", "reason": "Excluded by `exclude_models`."}]
    denied = ask(measured, key="key-nomodels")
    assert denied.status_code == 403, denied.text
    assert ask(measured, key="key-all").status_code == 200
    with measured.http(auth=False) as http:
        assert http.post("/v1/models/recommend", json={}).status_code == 401


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"min_success_rate": 1.5}, "min_success_rate"),
        ({"max_cost": -1}, "max_cost"),
        ({"task": 3}, "task"),
        ({"prefer_providers": "p-fast"}, "prefer_providers"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_param(measured, body, param):
    answer = ask(measured, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_bad_json_is_a_400(measured):
    with measured.http() as http:
        answer = http.post("/v1/models/recommend", content=b"{nope")
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    with measured.http() as http:
        assert http.post("/models/recommend").status_code == 200  # empty: the defaults


def test_the_openai_sdk_calls_it(measured):
    client = measured.openai()
    answer = client.post("/models/recommend", body={"limit": 1}, cast_to=object)
    assert [e["model"] for e in answer["data"]] == ["fast"]


def test_score_formula_orders_success_first_then_speed_then_price():
    assert score(1.0, 10.0, 100.0, False) > score(0.99, 0.0, 0.0, False)
    assert score(1.0, 0.1, 100.0, False) > score(1.0, 0.5, 0.0, False)
    assert score(1.0, 0.1, 1.0, False) > score(1.0, 0.1, 2.0, False)
    assert score(1.0, 0.2, 2.0, True) > score(1.0, 0.1, 1.0, False)
    assert score(0.99, 0.0, 0.0, True) < score(1.0, 10.0, None, False)
    assert recommend([], RecommendRequest()) == {"object": "list", "data": [], "excluded": []}


def test_a_model_named_recommend_is_still_found_by_get(make_client):
    config = {
        "providers": [{"name": "e", "type": "steered"}],
        "models": [{"name": "recommend", "provider": "e"}],
    }
    gw = make_client(config, plugins=[Steered(), Keys()])
    with gw.http() as http:
        assert http.get("/v1/models/recommend").json()["id"] == "recommend"
        assert [e["model"] for e in http.post("/v1/models/recommend").json()["data"]] == [
            "recommend"
        ]
    with gw.http(api_key="key-narrow") as http:
        assert http.get("/models/recommend").status_code == 404
