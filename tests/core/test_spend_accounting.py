"""The core's side of budgets: the cost reaches the limiters, usage writes are reported."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from plugbay import Principal, RequestContext, hookimpl
from plugbay._types import RecordedUsage
from plugbay.testing import EventRecorder, fake

MODELS = {
    "providers": [{"name": "f", "type": "fake", "reply": "one two three"}],
    "models": [{"name": "priced", "provider": "f", "price": {"input": 1.0, "output": 2.0}}],
}
COST = (10 * 1.0 + 3 * 2.0) / 1e6  # the fake: 10 prompt tokens, one per word of the reply


class Accountant:
    """Authenticates ``key-<id>`` (one principal each), limits nothing, and keeps what the
    core tells a budget-keeping limiter; ``settles`` says whether it claims the spend."""

    def __init__(self, settles: bool) -> None:
        self.settles = settles
        self.principals: dict[str, Principal] = {}
        self.costs: list[float | None] = []
        self.batches: list[RecordedUsage] = []

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if not token or not token.startswith("key-"):
            return None
        key_id = token[4:]
        return self.principals.setdefault(key_id, Principal(key_id=key_id))

    async def acquire(self, ctx: RequestContext) -> None:
        pass

    async def release(self, ctx: RequestContext) -> None:
        self.costs.append(ctx.cost_usd)
        ctx.spend_settled = self.settles

    async def usage_recorded(self, gateway: Any, batch: RecordedUsage) -> None:
        self.batches.append(batch)

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)

    @hookimpl
    def plugbay_register_rate_limiters(self, register: Callable[[Any], None]) -> None:
        register(self)


def chat(gw, key: str) -> httpx.Response:
    return gw.http(auth=False).post(
        "/v1/chat/completions",
        json={"model": "priced", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": f"Bearer key-{key}"},
        timeout=30,
    )


def create_key(gw) -> str:
    with gw.http() as h:
        answer = h.post("/admin/keys", json={"name": "app"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def flush(gw) -> None:
    with gw.http() as h:
        assert h.get("/admin/usage").status_code == 200  # writes this worker's usage first


@pytest.mark.parametrize("settles", [False, True])
def test_limiters_settle_with_the_cost_and_may_claim_the_spend(make_client, settles):
    accountant, recorder = Accountant(settles), EventRecorder()
    gw = make_client(MODELS, plugins=[fake, accountant, recorder])
    assert chat(gw, "a").status_code == 200
    recorder.wait_for(1)  # the request finished (after its answer was sent)
    assert accountant.costs == [pytest.approx(COST)]  # before release, not after
    # without a limiter that claims it, the core counts the cost on the principal at once
    assert accountant.principals["a"].spend == (0.0 if settles else pytest.approx(COST))


def test_written_usage_is_reported_with_the_registrys_spend(make_client):
    accountant = Accountant(settles=True)
    gw = make_client(MODELS, plugins=[fake, accountant])
    key_id = create_key(gw)  # a key the registry holds (any authenticator may name it)
    answers = [chat(gw, key_id), chat(gw, key_id), chat(gw, "elsewhere")]
    assert [a.status_code for a in answers] == [200, 200, 200]
    deadline = time.monotonic() + 10
    while sum(len(b.requests) for b in accountant.batches) < 3:
        assert time.monotonic() < deadline, "the usage was never written"
        flush(gw)
    requests = [r for batch in accountant.batches for r in batch.requests]
    keys = [key_id, key_id, "elsewhere"]
    sent = [(a.headers["x-request-id"], key) for a, key in zip(answers, keys, strict=True)]
    assert sorted(requests) == sorted(sent)
    spends = [batch.spend for batch in accountant.batches if batch.spend]
    assert spends[-1] == {key_id: pytest.approx(2 * COST)}  # absent: a key it does not hold
    assert all("elsewhere" not in spend for spend in spends)
