"""Active health checks against real upstreams: they alone open and close breakers.

Two scripted upstreams (real HTTP servers speaking OpenAI's wire format) stand behind one
public model (``a`` first, ``b`` second); only ``a`` is checked. Its answers are switched
between healthy, dead (a 503 echoing the credential it got) and refusing (a 400) by the
test; every condition is polled for with a deadline, never slept for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest

from plugbay.testing import Reply
from plugbay.testing.openai_upstream import openai_default
from plugbay.testing.upstream import RecordedRequest, ScriptedUpstream
from tests.core.support import relay

CHAT = {"model": "public", "messages": [{"role": "user", "content": "hello there"}]}
SECRET = "sk-test-0123456789abcdefghijklmnopqrstuv"


class Switch:
    """The checked upstream's behaviour, switched by the test."""

    def __init__(self) -> None:
        self.mode = "ok"

    def __call__(self, request: RecordedRequest) -> Reply:
        if self.mode == "dead":
            sent = {k.lower(): v for k, v in request.headers.items()}.get("authorization", "")
            return Reply.error(503, f"overloaded (you sent {sent})", "server_error")
        if self.mode == "refuse":
            return Reply.error(400, "no such model", code="model_not_found")
        return openai_default(request)


@pytest.fixture
def switch() -> Switch:
    return Switch()


@pytest.fixture
def upstreams(switch: Switch) -> Iterator[tuple[ScriptedUpstream, ScriptedUpstream]]:
    with ScriptedUpstream(default=switch) as a, ScriptedUpstream() as b:
        yield a, b


def config(a: ScriptedUpstream, b: ScriptedUpstream, interval: float = 0.05) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "a", "type": "relay", "base_url": a.base_url, "api_key": SECRET},
            {"name": "b", "type": "relay", "base_url": b.base_url},
        ],
        "models": [
            {
                "name": "public",
                "deployments": [
                    {"provider": "a", "model": "up-a"},
                    {"provider": "b", "model": "up-b"},
                ],
            }
        ],
        "router": {
            "breaker": {"failures": 2, "cooldown": 600},
            "health_checks": {"a": {"interval": interval, "timeout": 5}},
        },
    }


def detailed(gw: Any) -> dict[str, Any]:
    with gw.http() as http:
        answer = http.get("/health/detailed")
    assert answer.status_code == 200, answer.text
    assert SECRET not in answer.text
    assert SECRET[3:20] not in answer.text
    return dict(answer.json()["deployments"])


def poll(gw: Any, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        deployments = detailed(gw)
        if condition(deployments):
            return deployments
        assert time.monotonic() < deadline, f"never happened; last seen: {deployments}"
        time.sleep(0.01)  # polling pace, not synchronisation


def chat(gw: Any) -> Any:
    with gw.http() as http:
        return http.post("/v1/chat/completions", json=CHAT)


def is_ping(request: RecordedRequest) -> bool:
    body = json.loads(request.body)
    return body["max_tokens"] == 1 and body["messages"][0]["content"] == "ping"


def test_a_dead_upstream_opens_its_breaker_through_checks_alone_and_closes_when_back(
    make_client, upstreams, switch
):
    a, b = upstreams
    switch.mode = "dead"
    gw = make_client(config(a, b), plugins=[relay])
    seen = poll(gw, lambda d: d["a/up-a"]["breaker"] == "open")
    check = seen["a/up-a"]["health_check"]
    assert check["last_ok"] is False
    assert check["failures"] >= 2
    assert check["last_error"]["code"] is not None
    assert "overloaded (you sent ***)" in check["last_error"]["message"]  # the key masked
    assert seen["a/up-a"]["requests"] == 0  # checks are not client requests
    assert seen["b/up-b"]["health_check"] is None  # no check configured there
    assert b.requests == []
    answer = chat(gw)  # the first client request goes to `b` at once
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-deployment"] == "b/up-b"
    assert answer.headers["x-plugbay-attempts"] == "1"
    assert all(is_ping(r) for r in a.requests)  # the client's request never reached `a`
    assert json.loads(a.requests[0].body)["model"] == "up-a"

    switch.mode = "ok"
    seen = poll(gw, lambda d: d["a/up-a"]["breaker"] == "closed")
    assert seen["a/up-a"]["health_check"]["last_error"] is None
    assert seen["a/up-a"]["health_check"]["last_ok"] is True
    answer = chat(gw)
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-plugbay-deployment"] == "a/up-a"
    assert answer.headers["x-plugbay-attempts"] == "1"
    assert detailed(gw)["a/up-a"]["requests"] == 1  # only the client's


def test_a_refusal_is_reported_but_does_not_open_the_breaker(make_client, upstreams, switch):
    a, b = upstreams
    switch.mode = "refuse"
    gw = make_client(config(a, b), plugins=[relay])
    seen = poll(
        gw,
        lambda d: (d["a/up-a"]["health_check"] or {}).get("checks", 0) >= 5,
    )
    check = seen["a/up-a"]["health_check"]
    assert check["last_ok"] is False
    assert check["last_error"]["status"] == 400
    assert check["failures"] == 0  # the client's request is at fault, not the upstream
    assert seen["a/up-a"]["breaker"] == "closed"


def test_checks_keep_their_interval(make_client, upstreams):
    a, b = upstreams
    interval = 0.3
    gw = make_client(config(a, b, interval=interval), plugins=[relay])
    started = time.monotonic()
    arrived = a.wait_for(6, timeout=60)[:6]
    elapsed = time.monotonic() - started
    gaps = [later.received_at - earlier.received_at for earlier, later in pairwise(arrived)]
    # the next check starts `interval` after the previous one ended: never sooner
    assert min(gaps) >= interval - 0.02, gaps
    assert elapsed >= 5 * interval - 0.05
    assert all(is_ping(r) for r in arrived)
    count = len(a.requests)
    window = time.monotonic() - arrived[0].received_at
    assert count <= window / interval + 2, (count, window)  # no bursts, no second task
    check = detailed(gw)["a/up-a"]["health_check"]
    assert check["interval"] == interval
    assert check["checks"] >= 6
    assert b.requests == []


def test_bad_check_settings_are_config_errors_naming_the_key(tmp_path):
    from plugbay._settings import ConfigError, load_settings

    path = tmp_path / "plugbay.toml"
    path.write_text("[router.health_checks.a]\ninterval = 0\n")
    # msgspec names a table's key `[...]`
    bad_interval = r"router\.health_checks\[\.\.\.\]\.interval: Expected `float` > 0"
    with pytest.raises(ConfigError, match=bad_interval):
        load_settings(path)
    path.write_text("[router.health_checks.a]\ninterval = 1\nevery = 2\n")
    with pytest.raises(ConfigError, match=r"every"):
        load_settings(path)


def test_a_check_naming_no_provider_is_reported_and_harmless(make_client, upstreams, caplog):
    a, b = upstreams
    settings = config(a, b)
    settings["router"]["health_checks"] = {"nobody": {"interval": 0.01}}
    with caplog.at_level("WARNING", logger="plugbay"):
        gw = make_client(settings, plugins=[relay])
    assert "[router.health_checks.nobody] names no provider" in caplog.text
    answer = chat(gw)
    assert answer.headers["x-plugbay-deployment"] == "a/up-a"
    assert detailed(gw)["a/up-a"]["health_check"] is None
    assert len(a.requests) == 1
