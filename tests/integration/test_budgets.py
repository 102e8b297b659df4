"""Virtual keys' budgets with plugbay-ratelimit: reserved, settled, recorded, never twice.

``priced`` (the echo adapter) charges nothing per prompt token and $100 per million
completion tokens: the answer to ``a b c d e`` with ``max_tokens=5`` costs $0.0005, exactly
its worst case, so a $0.005 budget covers exactly ten.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

import plugbay_echo
import plugbay_keys
import plugbay_ratelimit
from plugbay._cli import cli
from plugbay.testing import EventRecorder, ServeProcess

HELLO = [{"role": "user", "content": "a b c d e"}]
MODELS = {
    "providers": [{"name": "echo", "type": "echo"}],
    "models": [{"name": "priced", "provider": "echo", "price": {"input": 0.0, "output": 100.0}}],
}


@pytest.fixture
def gw(make_gateway):
    recorder = EventRecorder()
    plugins = [plugbay_echo, plugbay_keys, plugbay_ratelimit, recorder]
    gateway = make_gateway(MODELS, plugins=plugins)
    gateway.recorder = recorder
    return gateway


def admin(gw) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.api_key}"})


def create_key(gw, budget: float) -> dict:
    with admin(gw) as client:
        answer = client.post("/admin/keys", json={"name": "app", "max_budget": budget})
    assert answer.status_code == 201, answer.text
    return answer.json()


def chat(url: str, key: str, gw=None, **extra) -> httpx.Response:
    """One request; with ``gw``, once it has finished (the limiter settles after the answer)."""
    answer = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "priced", "messages": HELLO, **extra},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    if gw is not None:
        gw.recorder.wait(answer.headers["x-request-id"])
    return answer


async def burst(url: str, key: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=count), timeout=60) as client:
        body = {"model": "priced", "messages": HELLO, "max_tokens": 5}
        headers = {"authorization": f"Bearer {key}"}
        return await asyncio.gather(
            *(
                client.post(url + "/v1/chat/completions", json=body, headers=headers)
                for _ in range(count)
            )
        )


def spend(gw, key_id: str) -> float:
    with admin(gw) as client:  # the admin API writes this worker's usage first
        return client.get(f"/admin/keys/{key_id}").json()["spend"]


def test_the_budget_holds_while_usage_reaches_the_registry(gw):
    created = create_key(gw, 0.005)
    key = created["key"]
    codes = []
    for index in range(14):
        codes.append(chat(gw.url, key, gw, max_tokens=5).status_code)
        if index in (2, 5):  # usage written mid-way: its cost moves from pending to recorded
            spend(gw, created["id"])
    assert codes == [200] * 10 + [429] * 4
    assert spend(gw, created["id"]) == pytest.approx(0.005)
    refused = chat(gw.url, key, gw, max_tokens=1)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "budget_exceeded"


def test_concurrent_requests_on_a_virtual_key(gw):
    created = create_key(gw, 0.005)
    answers = asyncio.run(burst(gw.url, created["key"], 50))
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429] * 40
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {
        "budget_exceeded"
    }
    assert spend(gw, created["id"]) == pytest.approx(0.005)


def test_a_spend_reset_by_an_admin_takes_effect_within_seconds(gw):
    created = create_key(gw, 0.001)
    assert [chat(gw.url, created["key"], gw, max_tokens=5).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert spend(gw, created["id"]) == pytest.approx(0.001)
    with admin(gw) as client:
        assert client.patch(f"/admin/keys/{created['id']}", json={"spend": 0}).status_code == 200
    reset = time.monotonic()
    while (answer := chat(gw.url, created["key"], gw, max_tokens=5)).status_code != 200:
        assert answer.json()["error"]["code"] == "budget_exceeded"
        assert time.monotonic() - reset < 10.0, "the reset never took effect"
        time.sleep(0.1)
    assert chat(gw.url, created["key"], gw, max_tokens=5).status_code == 200
    assert chat(gw.url, created["key"], gw, max_tokens=5).status_code == 429


CONFIG = """
[server]
database = "{db}"

[[providers]]
name = "echo"
type = "echo"

[[models]]
name = "priced"
provider = "echo"
price = {{ input = 0.0, output = 100.0 }}
"""


@pytest.mark.slow
def test_two_workers_spend_a_virtual_keys_budget_exactly(tmp_path: Path):
    config = tmp_path / "plugbay.toml"
    config.write_text(CONFIG.format(db=tmp_path / "gw.db"))
    result = CliRunner().invoke(
        cli,
        ["keys", "--config", str(config), "--json", "create", "app", "--max-budget", "0.005"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    env = {"PLUGBAY_PLUGINS": "echo,keys,ratelimit"}
    server = ServeProcess("--config", str(config), "--workers", "2", cwd=tmp_path, env=env)
    try:
        server.start(60, ready_workers=2)
        answers = asyncio.run(burst(server.url, created["key"], 50))
        late = chat(server.url, created["key"], max_tokens=1)
    finally:
        server.stop()
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429] * 40
    assert late.status_code == 429
    with sqlite3.connect(tmp_path / "gw.db") as db:
        recorded = db.execute("SELECT spend FROM keys WHERE id = ?", (created["id"],)).fetchone()
        total = db.execute("SELECT TOTAL(cost_usd) FROM usage").fetchone()[0]
    assert recorded[0] == pytest.approx(0.005)  # the registry's spend: the real costs, once
    assert total == pytest.approx(0.005)
