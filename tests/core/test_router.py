"""Routing and resilience against real upstreams that fail on demand.

Two scripted upstreams (real HTTP servers speaking OpenAI's wire format) stand behind one
public model; each test makes one of them fail and counts what reached each.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from plugbay.testing import Reply, fake
from plugbay.testing.upstream import ScriptedUpstream
from tests.core.support import relay

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
def upstreams() -> Iterator[tuple[ScriptedUpstream, ScriptedUpstream]]:
    with ScriptedUpstream() as a, ScriptedUpstream() as b:
        yield a, b


def config(
    a: ScriptedUpstream,
    b: ScriptedUpstream | None = None,
    *,
    model: dict[str, Any] | None = None,
    router: dict[str, Any] | None = None,
    more_models: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    providers = [{"name": "a", "type": "relay", "base_url": a.base_url, "timeout": 10}]
    deployments = [{"provider": "a", "model": "up-a"}]
    if b is not None:
        providers.append({"name": "b", "type": "relay", "base_url": b.base_url, "timeout": 10})
        deployments.append({"provider": "b", "model": "up-b"})
    entry = {"name": "public", "deployments": deployments, **(model or {})}
    result: dict[str, Any] = {"providers": providers, "models": [entry, *(more_models or [])]}
    if router is not None:
        result["router"] = router
    return result


def chat(gw: Any, **extra: Any) -> Any:
    return gw.http().post("/v1/chat/completions", json={**CHAT, **extra})


# --- failover, retries, what is never retried -------------------------------------------------


def test_a_500_at_the_first_deployment_is_answered_by_the_second(
    make_client, upstreams, event_recorder
):
    a, b = upstreams
    a.script(Reply.error(500, "boom", "server_error"))
    gw = make_client(config(a, b), plugins=[relay, event_recorder])
    answer = chat(gw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"
    assert answer.headers["x-plugbay-attempts"] == "2"
    assert (len(a.requests), len(b.requests)) == (1, 1)
    assert json.loads(b.requests[0].body)["model"] == "up-b"
    assert answer.json()["model"] == "public"
    event = event_recorder.wait_for(1)[0]
    assert (event.deployment, event.attempts, event.provider) == ("b/up-b", 2, "b")


def test_a_400_is_never_retried(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.error(400, "bad temperature", code="invalid_value"))
    gw = make_client(config(a, b, router={"retry": {"attempts": 5}}), plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_value"
    assert answer.headers["x-plugbay-attempts"] == "1"
    assert (len(a.requests), len(b.requests)) == (1, 0)


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_go_straight_back(make_client, upstreams, status):
    a, b = upstreams
    a.script(Reply.error(status, "no"))
    gw = make_client(config(a, b, router={"retry": {"attempts": 5}}), plugins=[relay])
    assert chat(gw).status_code in (status, 502)  # 401/403: the provider's key, a 502
    assert (len(a.requests), len(b.requests)) == (1, 0)


def test_a_429_with_retry_after_is_never_retried_sooner_at_that_deployment(make_client, upstreams):
    a, _ = upstreams
    a.script(Reply.error(429, "slow down", "rate_limit_error", headers={"retry-after": "2"}))
    gw = make_client(config(a, router={"retry": {"attempts": 2}}), plugins=[relay])
    started = time.monotonic()
    answer = chat(gw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-attempts"] == "2"
    first, second = a.requests
    assert second.received_at - first.received_at >= 2.0
    assert time.monotonic() - started < 10


def test_retry_after_ms_is_honoured_and_another_deployment_is_used_meanwhile(
    make_client, upstreams
):
    a, b = upstreams
    a.script(Reply.error(429, "slow", "rate_limit_error", headers={"retry-after-ms": "3000"}))
    gw = make_client(config(a, b), plugins=[relay])
    started = time.monotonic()
    answers = [chat(gw) for _ in range(4)]
    assert time.monotonic() - started < 2.5  # moved on at once, never waited
    assert [r.headers["x-plugbay-deployment"] for r in answers] == ["b/up-b"] * 4
    assert len(a.requests) == 1  # nobody went back to `a` within its 3 s


def test_a_long_retry_after_goes_back_to_the_client(make_client, upstreams):
    a, _ = upstreams
    a.script(Reply.error(429, "later", "rate_limit_error", headers={"retry-after": "30"}))
    gw = make_client(config(a, router={"retry": {"attempts": 3}}), plugins=[relay])
    started = time.monotonic()
    answer = chat(gw)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "30"
    assert time.monotonic() - started < 2
    assert len(a.requests) == 1


def test_backoff_retries_the_only_deployment_until_it_answers(make_client, upstreams):
    a, _ = upstreams
    a.script(Reply.error(503, "busy"), Reply.error(502, "bad gateway"))
    router = {"retry": {"attempts": 3, "backoff": 0.05}}
    gw = make_client(config(a, router=router), plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-attempts"] == "3"


def test_attempts_are_bounded(make_client, upstreams):
    a, b = upstreams
    a.script(*[Reply.error(500, "down")] * 10)
    b.script(*[Reply.error(500, "down")] * 10)
    router = {"retry": {"attempts": 3, "backoff": 0}}
    gw = make_client(config(a, b, router=router), plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 502
    assert answer.headers["x-plugbay-attempts"] == "3"
    assert len(a.requests) + len(b.requests) == 3


def test_a_connection_refused_fails_over(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.disconnect())
    gw = make_client(config(a, b), plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 200
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"


# --- fallbacks --------------------------------------------------------------------------------


def test_a_model_falls_back_to_another(make_client, upstreams, event_recorder):
    a, b = upstreams
    a.script(Reply.error(503, "down"))
    cfg = config(a, model={"fallbacks": ["spare"]})
    cfg["providers"].append({"name": "b", "type": "relay", "base_url": b.base_url})
    cfg["models"].append({"name": "spare", "provider": "b", "upstream_model": "up-spare"})
    gw = make_client(cfg, plugins=[relay, event_recorder])
    answer = chat(gw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-deployment"] == "b/up-spare"
    assert json.loads(b.requests[0].body)["model"] == "up-spare"
    event = event_recorder.wait_for(1)[0]
    assert (event.model, event.deployment) == ("public", "b/up-spare")


def test_a_context_window_error_falls_back_to_a_larger_model(make_client, upstreams):
    a, b = upstreams
    a.script(
        Reply.error(
            400,
            "This model's maximum context length is 8192 tokens.",
            code="context_length_exceeded",
        )
    )
    cfg = config(a, model={"context_window_fallbacks": ["big"], "fallbacks": ["other"]})
    cfg["providers"].append({"name": "b", "type": "relay", "base_url": b.base_url})
    cfg["models"] += [
        {"name": "big", "provider": "b", "upstream_model": "up-big"},
        {"name": "other", "provider": "b", "upstream_model": "up-other"},
    ]
    gw = make_client(cfg, plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 200
    assert answer.headers["x-plugbay-deployment"] == "b/up-big"


def test_a_content_filter_refusal_may_fall_back(make_client, upstreams):
    a, b = upstreams
    refused = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "up-a",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "content_filter",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
    }
    a.script(Reply.json(refused), Reply.json(refused))
    cfg = config(a, model={"content_filter_fallbacks": ["lenient"]})
    cfg["providers"].append({"name": "b", "type": "relay", "base_url": b.base_url})
    cfg["models"] += [
        {"name": "lenient", "provider": "b", "upstream_model": "up-lenient"},
        {"name": "strict", "provider": "a", "upstream_model": "up-a"},
    ]
    gw = make_client(cfg, plugins=[relay])
    answer = chat(gw)
    assert answer.json()["choices"][0]["finish_reason"] == "stop"
    assert answer.headers["x-plugbay-deployment"] == "b/up-lenient"
    # without content_filter_fallbacks the refusal is the answer
    assert chat(gw, model="strict").json()["choices"][0]["finish_reason"] == "content_filter"


# --- streams ----------------------------------------------------------------------------------


def _chunk(text: str) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def test_a_stream_fails_over_before_its_first_byte(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.error(502, "bad gateway"))
    gw = make_client(config(a, b), plugins=[relay])
    with gw.http().stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as r:
        body = r.read()
        assert r.status_code == 200
        assert r.headers["x-plugbay-deployment"] == "b/up-b"
    assert body.rstrip().endswith(b"data: [DONE]")
    assert b'"error"' not in body


def test_a_stream_that_breaks_before_any_event_fails_over(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.sse([], drop=True))
    gw = make_client(config(a, b), plugins=[relay])
    answer = gw.http().post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"
    assert b'"error"' not in answer.content


def test_a_mid_stream_failure_is_an_error_event(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.sse([_chunk("Hel"), _chunk("lo")], drop=True))
    gw = make_client(config(a, b), plugins=[relay])
    answer = gw.http().post("/v1/chat/completions", json={**CHAT, "stream": True})
    assert answer.status_code == 200
    events = [e for e in answer.content.split(b"\n\n") if e.strip()]
    assert b'"Hel"' in events[0]
    error = json.loads(events[-2].removeprefix(b"data: "))["error"]
    assert error["type"] == "upstream_error"
    assert events[-1] == b"data: [DONE]"
    assert len(b.requests) == 0  # bytes were sent: no failover after that


# --- breakers ---------------------------------------------------------------------------------

BREAKER = {"breaker": {"failures": 3, "cooldown": 1.5}}


def test_a_tripped_breaker_sends_nothing_to_the_dead_upstream_then_recovers(make_client, upstreams):
    a, b = upstreams
    a.script(*[Reply.error(500, "dead")] * 3)
    gw = make_client(config(a, b, router=BREAKER), plugins=[relay])
    served = [chat(gw).headers["x-plugbay-deployment"] for _ in range(10)]
    assert served == ["b/up-b"] * 10
    assert len(a.requests) == 3  # then open: nothing more reached it
    health = gw.http().get("/health/detailed").json()
    assert health["deployments"]["a/up-a"]["breaker"] == "open"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the cool-down ends: one probe, which succeeds
        if chat(gw).headers["x-plugbay-deployment"] == "a/up-a":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the recovered deployment got no traffic again")
    assert len(a.requests) == 4
    assert chat(gw).headers["x-plugbay-deployment"] == "a/up-a"  # closed: priority again


def test_every_deployment_open_answers_503_at_once(make_client, upstreams):
    a, b = upstreams
    a.script(*[Reply.error(500, "dead")] * 3)
    b.script(*[Reply.error(500, "dead")] * 3)
    gw = make_client(config(a, b, router={"breaker": {"failures": 3, "cooldown": 30}}),
                     plugins=[relay])  # fmt: skip
    for _ in range(3):
        chat(gw)
    http = gw.http()
    started = time.perf_counter()
    answer = http.post("/v1/chat/completions", json=CHAT)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "deployments_unavailable"
    assert "circuit breakers are open" in error["message"]
    assert 1 <= int(answer.headers["retry-after"]) <= 30
    assert elapsed < 0.05
    assert len(a.requests) + len(b.requests) == 6


# --- pinning, config ----------------------------------------------------------------------------


def test_a_key_with_the_pin_scope_may_choose_the_provider(make_client, upstreams):
    a, b = upstreams
    gw = make_client(config(a, b), plugins=[relay])
    answer = gw.http().post("/v1/chat/completions", json=CHAT, headers={"x-provider": "b"})
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"
    unknown = gw.http().post("/v1/chat/completions", json=CHAT, headers={"x-provider": "zz"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["param"] == "x-provider"


def test_the_openai_sdk_sees_an_ordinary_answer_after_a_failover(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.error(500, "boom", "server_error"))
    gw = make_client(config(a, b), plugins=[relay])
    client = gw.openai(max_retries=0)
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-plugbay-deployment"] == "b/up-b"
    assert raw.parse().choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(**CHAT, extra_headers={"x-provider": "nope"})


def test_with_the_router_off_the_first_deployment_serves_alone(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.error(500, "boom", "server_error"))
    gw = make_client(config(a, b, router={"enabled": False}), plugins=[relay])
    answer = chat(gw)
    assert answer.status_code == 502  # no failover
    assert "x-plugbay-deployment" not in answer.headers
    assert (len(a.requests), len(b.requests)) == (1, 0)
    providers = {p["name"]: p for p in gw.http().get("/health/detailed").json()["providers"]}
    assert (providers["a"]["requests"], providers["a"]["errors"]) == (1, 1)  # still counted


def test_a_single_deployment_keeps_trying_while_its_breaker_is_open(make_client, upstreams):
    a, _ = upstreams
    a.script(*[Reply.error(500, "dead")] * 3)
    gw = make_client(config(a, router=BREAKER), plugins=[relay])
    assert [chat(gw).status_code for _ in range(4)] == [502, 502, 502, 200]
    assert len(a.requests) == 4  # nowhere else to go: still sent
    detailed = gw.http().get("/health/detailed").json()
    assert detailed["deployments"]["a/up-a"]["breaker"] == "closed"  # the success closed it


def test_break_single_fast_fails_a_single_deployment(make_client, upstreams):
    a, _ = upstreams
    a.script(*[Reply.error(500, "dead")] * 3)
    gw = make_client(config(a, router={**BREAKER, "break_single": True}), plugins=[relay])
    assert [chat(gw).status_code for _ in range(4)] == [502, 502, 502, 503]
    assert len(a.requests) == 3


# --- per-deployment caps, timeouts, prices ----------------------------------------------------


def test_a_deployment_at_its_rpm_cap_is_skipped_and_all_capped_is_a_429(make_client, upstreams):
    a, b = upstreams
    cfg = config(a, b)
    cfg["models"][0]["deployments"][0]["rpm"] = 2
    cfg["models"][0]["deployments"][1]["rpm"] = 1
    gw = make_client(cfg, plugins=[relay])
    served = [chat(gw) for _ in range(4)]
    assert [r.headers.get("x-plugbay-deployment") for r in served[:3]] == [
        "a/up-a",
        "a/up-a",
        "b/up-b",
    ]
    assert served[3].status_code == 429
    assert served[3].json()["error"]["code"] == "deployments_capped"
    assert int(served[3].headers["retry-after"]) >= 1


FAKES = {
    "providers": [{"name": "f1", "type": "fake"}, {"name": "f2", "type": "fake"}],
    "models": [{"name": "public", "deployments": [{"provider": "f1"}, {"provider": "f2"}]}],
}


def test_a_deployment_at_its_tpm_cap_is_skipped(make_client):
    cfg = copy.deepcopy(FAKES)
    cfg["models"][0]["deployments"][0]["tpm"] = 5
    gw = make_client(cfg, plugins=[fake])
    first, second = chat(gw), chat(gw)
    assert first.headers["x-plugbay-deployment"] == "f1/public"
    assert first.json()["usage"]["total_tokens"] >= 5
    assert second.headers["x-plugbay-deployment"] == "f2/public"


def test_a_deployment_timeout_moves_on_to_the_next(make_client, upstreams):
    a, b = upstreams
    a.script(Reply.json({"never": "read"}, delay=5))
    cfg = config(a, b)
    cfg["models"][0]["deployments"][0]["timeout"] = 0.3
    gw = make_client(cfg, plugins=[relay])
    started = time.monotonic()
    answer = chat(gw)
    assert answer.status_code == 200
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"
    assert time.monotonic() - started < 4


def test_a_request_costs_the_serving_deployments_price(make_client, event_recorder):
    cfg = copy.deepcopy(FAKES)
    cfg["models"][0]["price"] = {"input": 1.0, "output": 1.0}
    cfg["models"][0]["deployments"][0]["price"] = {"input": 1000.0, "output": 1000.0}
    gw = make_client(cfg, plugins=[fake, event_recorder])
    first = chat(gw).json()["usage"]
    events = event_recorder.wait_for(1)
    tokens = first["prompt_tokens"] + first["completion_tokens"]
    assert events[0].deployment == "f1/public"
    assert events[0].cost_usd == pytest.approx(tokens * 1000.0 / 1e6)
