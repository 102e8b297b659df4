"""A circuit breaker shared by the workers of one node (`[router.breaker] store = "file"`)."""

from __future__ import annotations

import time

import httpx
import pytest

from plugbay.testing import Reply, ServeProcess
from plugbay.testing.upstream import ScriptedUpstream

pytestmark = pytest.mark.slow

MASTER = "sk-test-master-router-0123456789"
CONFIG = """
[server]
database = "gw.db"

[router.breaker]
failures = 3
cooldown = {cooldown}
store = "file"

[[providers]]
name = "a"
type = "openai"
base_url = "{a}"
api_key = "sk-a"

[[providers]]
name = "b"
type = "openai"
base_url = "{b}"
api_key = "sk-b"

[[models]]
name = "public"
deployments = [{{ provider = "a", model = "up-a" }}, {{ provider = "b", model = "up-b" }}]
"""
CHAT = {"model": "public", "messages": [{"role": "user", "content": "hi"}]}


def ask(url: str) -> httpx.Response:
    # a new connection every time, so the kernel spreads requests across the workers
    with httpx.Client(timeout=20) as client:
        return client.post(
            url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {MASTER}"}
        )


def breaker_states(url: str, want_pids: int = 2, tries: int = 200) -> dict[int, str]:
    """Each worker's view of deployment `a/up-a`'s breaker, by pid."""
    seen: dict[int, str] = {}
    for _ in range(tries):
        with httpx.Client(timeout=20) as client:
            health = client.get(
                url + "/health/detailed", headers={"authorization": f"Bearer {MASTER}"}
            ).json()
        seen[health["pid"]] = health["deployments"]["a/up-a"]["breaker"]
        if len(seen) >= want_pids:
            break
    return seen


def test_a_breaker_tripped_in_one_worker_keeps_every_worker_off_the_dead_upstream(tmp_path):
    with ScriptedUpstream() as a, ScriptedUpstream() as b:
        a.script(*[Reply.error(500, "dead", "server_error")] * 50)
        cooldown = 4.0
        (tmp_path / "plugbay.toml").write_text(
            CONFIG.format(a=a.base_url, b=b.base_url, cooldown=cooldown)
        )
        gateway = ServeProcess("--workers", "2", cwd=tmp_path, env={"PLUGBAY_MASTER_KEY": MASTER})
        gateway.start(ready_workers=2)
        try:
            tripped = time.monotonic()
            answers = [ask(gateway.url) for _ in range(30)]
            assert {r.status_code for r in answers} == {200}
            assert {r.headers["x-plugbay-deployment"] for r in answers[3:]} == {"b/up-b"}
            # three failures in all, whichever workers saw them, opened it for both
            assert len(a.requests) == 3
            states = breaker_states(gateway.url)
            assert len(states) == 2, states
            assert set(states.values()) == {"open"}, states
            if time.monotonic() - tripped < cooldown:  # during the cool-down: nothing at `a`
                assert len(a.requests) == 3
            a.clear()  # `a` recovers
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if ask(gateway.url).headers["x-plugbay-deployment"] == "a/up-a":
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the recovered deployment got no traffic again")
            served = [ask(gateway.url).headers["x-plugbay-deployment"] for _ in range(10)]
            assert served == ["a/up-a"] * 10  # closed for every worker
            assert set(breaker_states(gateway.url).values()) == {"closed"}
        finally:
            gateway.stop()
