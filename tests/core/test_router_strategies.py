"""The routing strategies, measured over many requests through the gateway.

A `steered` adapter in this file answers at once or after a delay its test sets per provider,
so that traffic shares and latency reactions can be counted exactly.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import pytest

import plugbay
from plugbay import (
    BaseProvider,
    ChatRequest,
    ChatResponse,
    ConfigError,
    Deployment,
    StrategyRegister,
    hookimpl,
)
from plugbay._router.deployments import DeploymentStats
from plugbay._router.strategies import Cost, LeastBusy, Priority, Weighted

ANSWER = msgspec.json.encode(
    {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "public",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
)


class Steered:
    """The `steered` adapter: each provider waits `delays[name]` seconds, counts its calls."""

    def __init__(self) -> None:
        self.delays: dict[str, float] = {}
        self.calls: Counter[str] = Counter()

    @hookimpl
    def plugbay_register_adapters(self, register: plugbay.AdapterRegister) -> None:
        steered = self

        class Provider(BaseProvider):
            async def chat(self, request: ChatRequest) -> ChatResponse:
                name = self.ctx.name
                steered.calls[name] += 1
                delay = steered.delays.get(name, 0.0)
                if delay:
                    await asyncio.sleep(delay)
                return ChatResponse(ANSWER, plugbay.Usage(1, 1, 2))

        register.adapter("steered", Provider)


def setup(make_client: Any, strategy: str, weights: dict[str, float], **model: Any) -> Any:
    steered = Steered()
    config = {
        "providers": [{"name": n, "type": "steered"} for n in weights],
        "models": [
            {
                "name": "public",
                "strategy": strategy,
                "deployments": [
                    {"provider": n, "model": f"m-{n}", "weight": w} for n, w in weights.items()
                ],
                **model,
            }
        ],
    }
    return make_client(config, plugins=[steered]), steered


def ask(gw: Any, count: int) -> Counter[str]:
    served: Counter[str] = Counter()
    with gw.http() as http:
        for _ in range(count):
            answer = http.post(
                "/v1/chat/completions",
                json={"model": "public", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert answer.status_code == 200, answer.text
            served[answer.headers["x-plugbay-deployment"].split("/")[0]] += 1
    return served


def test_weighted_routing_follows_its_weights_over_2000_requests(make_client):
    gw, steered = setup(make_client, "weighted", {"a": 6, "b": 3, "c": 1})
    served = ask(gw, 2000)
    for name, weight in {"a": 0.6, "b": 0.3, "c": 0.1}.items():
        assert abs(served[name] / 2000 - weight) < 0.05, served
    assert served == steered.calls


def test_latency_moves_traffic_off_a_slow_deployment_and_back(make_client):
    gw, steered = setup(make_client, "latency", {"fast": 1, "slow": 1})
    steered.delays = {"fast": 0.004, "slow": 0.004}
    warm = ask(gw, 100)
    assert min(warm.values()) > 20, warm  # alike: both get traffic
    steered.delays["slow"] = 0.04  # 10x
    slowed = ask(gw, 200)
    assert slowed["slow"] < 0.2 * 200, slowed  # most traffic moved off within 200 requests
    steered.delays["slow"] = 0.004  # recovered
    ask(gw, 300)  # the slow one's average decays; probes find it fast again
    back = ask(gw, 200)
    assert back["slow"] > 0.2 * 200, back


def test_least_busy_prefers_the_deployment_with_fewer_requests_in_flight():
    def deployment(name: str, in_flight: int) -> Deployment:
        stats = DeploymentStats()
        stats.in_flight = in_flight
        return Deployment(
            name=name, provider_name=name, upstream_model=name, provider=None,  # type: ignore[arg-type]
            breaker=None, stats=stats,  # type: ignore[arg-type]
        )  # fmt: skip

    busy, idle = deployment("busy", 5), deployment("idle", 1)
    assert [d.name for d in LeastBusy().order([busy, idle], 0.0)] == ["idle", "busy"]
    cheap = Deployment(name="cheap", provider_name="c", upstream_model="c", provider=None,  # type: ignore[arg-type]
                       breaker=None, stats=DeploymentStats(),  # type: ignore[arg-type]
                       price=plugbay.Price(input=0.1, output=0.2))  # fmt: skip
    dear = Deployment(name="dear", provider_name="d", upstream_model="d", provider=None,  # type: ignore[arg-type]
                      breaker=None, stats=DeploymentStats(),  # type: ignore[arg-type]
                      price=plugbay.Price(input=3, output=15), priority=-1)  # fmt: skip
    assert [d.name for d in Cost().order([dear, busy, cheap], 0.0)] == ["cheap", "dear", "busy"]
    assert [d.name for d in Priority().order([cheap, dear], 0.0)] == ["dear", "cheap"]
    random.seed(7)
    firsts = Counter(Weighted().order([cheap, dear], 0.0)[0].name for _ in range(1000))
    assert 400 < firsts["cheap"] < 600


def test_least_busy_through_the_gateway_spreads_concurrent_requests(make_client):
    gw, steered = setup(make_client, "least-busy", {"a": 1, "b": 1})
    steered.delays = {"a": 0.2, "b": 0.2}

    body = {"model": "public", "messages": [{"role": "user", "content": "hi"}]}

    def one(_: int) -> str:
        answer = gw.http().post("/v1/chat/completions", json=body)
        return str(answer.headers["x-plugbay-deployment"])

    with ThreadPoolExecutor(10) as pool:
        served = Counter(pool.map(one, range(10)))
    # each request went where fewer were in flight: never more than one apart
    assert abs(served["a/m-a"] - served["b/m-b"]) <= 2, served


def test_the_cheapest_healthy_deployment_serves_under_cost(make_client):
    gw, _ = setup(
        make_client, "cost", {"a": 1, "b": 1}, deployments=[
            {"provider": "a", "model": "m-a", "price": {"input": 5, "output": 10}},
            {"provider": "b", "model": "m-b", "price": {"input": 0.5, "output": 1}},
        ],
    )  # fmt: skip
    assert ask(gw, 20) == {"b": 20}


class Alphabetical:
    def order(self, deployments: Any, now: float) -> list[Any]:
        return sorted(deployments, key=lambda d: d.name, reverse=True)


class StrategyPlugin:
    @hookimpl
    def plugbay_register_strategies(self, register: StrategyRegister) -> None:
        register.strategy("reverse-alphabetical", Alphabetical)


def test_a_plugin_registers_its_own_strategy(make_client):
    steered = Steered()
    config = {
        "providers": [{"name": n, "type": "steered"} for n in "ab"],
        "models": [
            {
                "name": "public",
                "strategy": "reverse-alphabetical",
                "deployments": [{"provider": "a"}, {"provider": "b"}],
            }
        ],
    }
    gw = make_client(config, plugins=[steered, StrategyPlugin()])
    assert ask(gw, 5) == {"b": 5}


def test_an_unknown_strategy_is_a_config_error_naming_the_key(make_client):
    config = {
        "providers": [{"name": "a", "type": "steered"}],
        "models": [{"name": "m", "strategy": "fastest", "deployments": [{"provider": "a"}]}],
    }
    with pytest.raises(ConfigError) as info:
        make_client(config, plugins=[Steered()])
    assert "models[0].strategy: unknown strategy 'fastest'" in str(info.value)
    assert "latency" in str(info.value)


def test_a_deployment_naming_an_unknown_provider_is_a_config_error(make_client):
    config = {
        "providers": [{"name": "a", "type": "steered"}],
        "models": [{"name": "m", "deployments": [{"provider": "a"}, {"provider": "zz"}]}],
    }
    with pytest.raises(ConfigError) as info:
        make_client(config, plugins=[Steered()])
    assert "models[0].deployments[1].provider: no provider named 'zz'" in str(info.value)


def test_a_strategy_without_order_is_refused_naming_the_plugin(make_client):
    class Broken:
        @hookimpl
        def plugbay_register_strategies(self, register: StrategyRegister) -> None:
            register.strategy("broken", object)

    with pytest.raises(plugbay.PluginError) as info:
        make_client(None, plugins=[Broken()])
    assert "strategy 'broken'" in str(info.value)
    assert "order" in str(info.value)
