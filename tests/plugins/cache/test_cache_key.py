"""The canonical request key."""

from __future__ import annotations

import msgspec
import pytest

from plugbay import ChatRequest, Principal, RequestContext
from plugbay.schemas import ChatCompletionParams
from plugbay_cache.key import cache_key

BASE = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}


def key(body: dict, key_id: str = "k1", per_key: bool = True, upstream: str = "m") -> bytes:
    raw = msgspec.json.encode(body)
    params = msgspec.convert(body, ChatCompletionParams)
    request = ChatRequest(
        params=params, body=body, raw=raw, public_model="m", upstream_model=upstream
    )
    ctx = RequestContext("req_1", "chat")
    ctx.principal = Principal(key_id=key_id)
    ctx.provider = "p"
    return cache_key(ctx, request, per_key)


def test_same_request_same_key_whatever_the_key_order():
    reordered = {"temperature": 0.2, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert key(BASE) == key(reordered)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.3},
        {"top_p": 0.5},
        {"seed": 7},
        {"stop": ["x"]},
        {"max_tokens": 5},
        {"n": 2},
        {"logit_bias": {"50256": -100}},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "none"},
        {"messages": [{"role": "user", "content": "hi!"}]},
        {"model": "other"},
        {"x_brand_new_parameter": True},
        {"reasoning_effort": "high"},
    ],
)
def test_every_field_that_can_change_the_answer_changes_the_key(change):
    assert key({**BASE, **change}) != key(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "someone"},
        {"metadata": {"trace": "1"}},
        {"request_id": "abc"},
    ],
)
def test_fields_that_cannot_change_the_answer_do_not(change):
    assert key({**BASE, **change}) == key(BASE)


def test_scope_and_route():
    assert key(BASE, key_id="k1") != key(BASE, key_id="k2")
    assert key(BASE, key_id="k1", per_key=False) == key(BASE, key_id="k2", per_key=False)
    assert key(BASE, upstream="m-v2") != key(BASE)  # the public name now routes elsewhere
