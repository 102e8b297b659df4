"""Budgets under concurrency: reserved before the call, settled to the real cost after.

Prices make the arithmetic exact: ``priced`` costs nothing per prompt token and $100 per
million completion tokens, so one completion token is $0.0001 and the fake's answer to
``HELLO`` (five words) costs $0.0005 -- exactly its worst case with ``max_tokens=5``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

import plugbay_ratelimit
from plugbay import Principal, hookimpl
from plugbay.testing import EventRecorder, fake

HELLO = [{"role": "user", "content": "a b c d e"}]
TOKEN = 0.0001  # USD per completion token of `priced`
CONFIG = {
    "providers": [{"name": "local", "type": "fake"}],
    "models": [
        {"name": "priced", "provider": "local", "price": {"input": 0.0, "output": 100.0}},
        {"name": "prompted", "provider": "local", "price": {"input": 100.0, "output": 100.0}},
        {"name": "free", "provider": "local"},
    ],
}


class BudgetAuth:
    """Bearer ``key-<id>``: the same principal every time, with the settings given for it."""

    def __init__(self, keys: Mapping[str, Mapping[str, Any]]) -> None:
        self.keys = keys
        self.principals: dict[str, Principal] = {}

    async def authenticate(self, token: str | None, headers: Mapping[str, str]) -> Principal | None:
        if not token or not token.startswith("key-"):
            return None
        key_id = token[4:]
        if key_id not in self.principals:
            self.principals[key_id] = Principal(key_id=key_id, **self.keys.get(key_id, {}))
        return self.principals[key_id]

    @hookimpl
    def plugbay_register_authenticators(self, register: Callable[[Any], None]) -> None:
        register(self)


@pytest.fixture
def budget_gateway(make_gateway):
    """``budget_gateway(budget, ratelimit=None, **key)``: key ``a`` with ``max_budget``."""

    def make(budget: float, ratelimit: dict | None = None, **key):
        adapter = fake.FakeAdapter()
        recorder = EventRecorder()
        auth = BudgetAuth({"a": {"max_budget": budget, **key}})
        config = {**CONFIG, "ratelimit": ratelimit or {}}
        gw = make_gateway(config, plugins=[adapter, plugbay_ratelimit, auth, recorder])
        gw.recorder = recorder
        gw.calls = adapter.calls
        return gw

    return make


def chat(gw, model: str = "priced", key: str = "a", **extra) -> httpx.Response:
    """One request, once it has finished: its answer is sent before the limiter settles."""
    answer = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": model, "messages": HELLO, **extra},
        headers={"authorization": f"Bearer key-{key}"},
        timeout=30,
    )
    gw.recorder.wait(answer.headers["x-request-id"])
    return answer


async def burst(gw, count: int, **extra) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count)
    async with httpx.AsyncClient(base_url=gw.url, limits=limits, timeout=60) as client:
        body = {"model": "priced", "messages": HELLO, **extra}
        headers = {"authorization": "Bearer key-a"}
        return await asyncio.gather(
            *(client.post("/v1/chat/completions", json=body, headers=headers) for _ in range(count))
        )


def wait_until(condition, timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def assert_budget_refusal(answer: httpx.Response, final: bool) -> None:
    assert answer.status_code == 429, answer.text
    error = answer.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert error["code"] == "budget_exceeded"
    assert "budget" in error["message"]
    if final:
        assert answer.headers["x-should-retry"] == "false"
        assert "retry-after" not in answer.headers
    else:
        assert int(answer.headers["retry-after"]) >= 1


def test_concurrent_requests_get_exactly_what_the_budget_covers(budget_gateway):
    gw = budget_gateway(0.005)  # ten answers of $0.0005
    answers = asyncio.run(burst(gw, 50, max_tokens=5))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 10 + [429] * 40
    for refused in (a for a in answers if a.status_code == 429):
        assert refused.json()["error"]["code"] == "budget_exceeded"
    assert len(gw.calls) == 10  # refused before any upstream call
    events = gw.recorder.wait_for(50)
    assert sum(e.cost_usd or 0 for e in events) == pytest.approx(10 * 5 * TOKEN)
    # spent to the last nano-dollar: nothing more fits, and waiting does not help
    assert_budget_refusal(chat(gw, max_tokens=1), final=True)


def test_a_request_is_admitted_only_if_its_worst_case_fits(budget_gateway):
    gw = budget_gateway(0.001)  # ten completion tokens
    assert_budget_refusal(chat(gw, max_tokens=11), final=True)
    assert gw.calls == []
    assert chat(gw, max_tokens=10).status_code == 200  # the worst case fits exactly
    # it cost 5 tokens: the reservation of 10 was settled to the real cost
    assert chat(gw, max_tokens=5).status_code == 200
    assert_budget_refusal(chat(gw, max_tokens=1), final=True)


def test_reservations_of_requests_in_flight_count(budget_gateway):
    gw = budget_gateway(0.0015)
    slow = _Slow(gw, max_tokens=10)  # reserves 10 of 15 tokens
    try:
        refused = chat(gw, max_tokens=6)
        assert_budget_refusal(refused, final=False)  # 10 + 6 > 15, but it may fit later
        assert "requests in flight" in refused.json()["error"]["message"]
        assert chat(gw, max_tokens=5).status_code == 200  # 10 + 5 fits
    finally:
        slow.join()
    assert slow.answer.status_code == 200
    # both settled to 5 tokens each: 5 are left
    assert chat(gw, max_tokens=5).status_code == 200
    assert_budget_refusal(chat(gw, max_tokens=1), final=True)


class _Slow:
    """One request with ``x_delay`` in a thread; returns once it reached the upstream."""

    def __init__(self, gw, **extra) -> None:
        self.answer: httpx.Response | None = None
        calls = len(gw.calls)
        self.thread = threading.Thread(target=self._run, args=(gw, extra), daemon=True)
        self.thread.start()
        wait_until(lambda: len(gw.calls) > calls, what="the slow request to reach upstream")

    def _run(self, gw, extra) -> None:
        self.answer = chat(gw, x_delay=1.0, **extra)

    def join(self) -> None:
        self.thread.join(30)


def test_upstream_failure_gives_the_reservation_back(budget_gateway):
    gw = budget_gateway(0.001)
    failed = chat(gw, max_tokens=10, x_fail=True)
    assert failed.status_code == 502
    event = gw.recorder.wait_for(1)[0]
    assert event.cost_usd is None  # nothing was used
    assert chat(gw, max_tokens=10).status_code == 200  # all ten tokens were still there


def test_client_disconnect_settles_to_what_was_streamed(budget_gateway):
    gw = budget_gateway(0.003)  # 30 tokens
    words = " ".join(f"w{i}" for i in range(20))
    body = {
        "model": "priced",
        "messages": [{"role": "user", "content": words}],
        "max_tokens": 20,
        "stream": True,
        "x_chunk_delay": 0.5,
    }
    headers = {"authorization": "Bearer key-a"}
    with (
        httpx.Client(timeout=30) as client,
        client.stream("POST", gw.url + "/v1/chat/completions", json=body, headers=headers) as s,
    ):
        assert s.status_code == 200
        chunks = s.iter_bytes()  # (a dropped iterator would close the connection)
        next(chunks)  # the first chunk: the stream is under way, 20 reserved
        assert_budget_refusal(chat(gw, max_tokens=11), final=False)  # 20 + 11 > 30
    # the client left; the request ends as 499, costing the chunks sent (estimated)
    event = gw.recorder.wait_for(2)[1]
    assert event.status == 499
    assert event.stream
    assert 0 <= event.cost_usd < 20 * TOKEN
    left = 30 - round(event.cost_usd / TOKEN)  # the reservation was settled to that
    assert_budget_refusal(chat(gw, max_tokens=left + 1), final=True)
    assert chat(gw, max_tokens=left).status_code == 200


def test_a_request_without_max_tokens_reserves_the_models_output_limit(budget_gateway):
    ratelimit = {"models": {"priced": {"max_output_tokens": 50}}}
    gw = budget_gateway(0.004, ratelimit)
    refused = chat(gw)  # 50 tokens may come back: more than 40
    assert_budget_refusal(refused, final=True)
    assert "$0.0050" in refused.json()["error"]["message"]
    assert chat(gw, max_tokens=40).status_code == 200
    # n answers: n times the output
    assert_budget_refusal(chat(gw, max_tokens=10, n=4), final=True)


def test_unknown_output_limit_falls_back_to_the_configured_default(budget_gateway):
    gw = budget_gateway(0.003, {"max_output_tokens": 31})
    assert_budget_refusal(chat(gw), final=True)
    gw = budget_gateway(0.003, {"max_output_tokens": 30})
    assert chat(gw).status_code == 200


def test_the_prompt_is_reserved_at_its_bound(budget_gateway):
    # `prompted` charges $0.0001 per prompt token too; the fake counts 10 prompt tokens. The
    # bound: 3 + 4 per message + the message's 9 bytes = 16, plus 5 completion tokens.
    gw = budget_gateway(0.0021)
    assert_budget_refusal(chat(gw, "prompted", max_tokens=6), final=True)  # 16 + 6 > 21
    answer = chat(gw, "prompted", max_tokens=5)  # 16 + 5 fits; it costs 10 + 5
    assert answer.status_code == 200
    assert_budget_refusal(chat(gw, "prompted", max_tokens=5), final=True)  # 15 + 21 > 21


def test_unpriced_models_and_keys_without_a_budget_reserve_nothing(budget_gateway):
    gw = budget_gateway(0.0)
    assert chat(gw, "free").status_code == 200  # no price: no cost is ever recorded
    assert chat(gw, key="b").status_code == 200  # no budget
    assert_budget_refusal(chat(gw, max_tokens=1), final=True)


def test_budget_and_max_parallel_share_one_lease(budget_gateway):
    gw = budget_gateway(0.0015, max_parallel=1)
    slow = _Slow(gw, max_tokens=5)
    try:
        busy = chat(gw, max_tokens=5)
        assert busy.status_code == 429
        assert "requests in flight" in busy.json()["error"]["message"]
    finally:
        slow.join()
    assert chat(gw, max_tokens=5).status_code == 200
    assert chat(gw, max_tokens=5).status_code == 200
    assert_budget_refusal(chat(gw, max_tokens=1), final=True)


@pytest.mark.anyio
async def test_settled_costs_leave_the_pending_list_once_recorded():
    """Every receipt is consumed by the usage write of its request, key or no key."""
    import msgspec

    from plugbay import ChatRequest, RequestContext, Settings
    from plugbay._pricing import Price
    from plugbay._types import RecordedUsage
    from plugbay.schemas import ChatCompletionParams, Usage
    from plugbay_ratelimit.config import load_config
    from plugbay_ratelimit.limiter import SlidingWindowLimiter
    from plugbay_ratelimit.stores import MemoryStore

    class Prices:
        def price_of(self, model: str) -> Price:
            return Price(input=0.0, output=100.0)

    limiter = SlidingWindowLimiter(load_config(Settings()), MemoryStore(256))
    await limiter.start(Prices())
    body = {"model": "m", "messages": HELLO, "max_tokens": 5}
    params = msgspec.convert(body, ChatCompletionParams)
    ids = []
    for index, key_id in enumerate(["registry-key", None, "elsewhere"]):
        ctx = RequestContext(f"req_{index}", "chat")
        ctx.principal = Principal(key_id=key_id, max_budget=1.0)
        ctx.model = "m"
        ctx.request = ChatRequest(
            params=params, body=body, raw=b"", public_model="m", upstream_model="m"
        )
        await limiter.acquire(ctx)
        ctx.usage, ctx.cost_usd = Usage(10, 5, 15), 5 * TOKEN
        await limiter.release(ctx)
        assert ctx.spend_settled
        ids.append((ctx.request_id, key_id))
    assert len(limiter._unrecorded) == 3
    await limiter.usage_recorded(
        None, RecordedUsage(requests=tuple(ids), spend={"registry-key": 1})
    )
    assert limiter._unrecorded == {}
    await limiter.aclose()
