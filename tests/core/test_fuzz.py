"""Property: no body, however malformed, makes /v1 or /admin answer a 5xx.

Derandomised, so a run is reproducible (a failure names the example; it is not a flake).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugbay.testing import fake

CONFIG = {"providers": [{"name": "f", "type": "fake"}], "models": [{"name": "m", "provider": "f"}]}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

huge = st.sampled_from([2**63, 2**64 + 1, -(2**63) - 1, 2**53 + 1, 10**30])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    huge,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["m", "user", "assistant", "system", "tool", "auto", "none", "function"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def bodies(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with some of ``fields`` (each valid or anything) and some unknown keys.

    ``name`` and ``model``, which most validation needs first, are nearly always there.
    """
    first = {k: s for k, s in fields.items() if k in ("name", "model")}
    rest = {k: s | values for k, s in fields.items() if k not in first}
    known = st.fixed_dictionaries(first, optional=rest) | st.fixed_dictionaries(
        {}, optional={k: s | values for k, s in fields.items()}
    )
    return st.builds(
        lambda a, b: {**b, **a}, known, st.dictionaries(st.text(max_size=6), values, max_size=2)
    )


message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "developer"]) | values},
    optional={
        "content": st.text(max_size=30) | st.lists(values, max_size=3) | values,
        "tool_calls": st.lists(values, max_size=2),
        "tool_call_id": values,
        "name": values,
    },
)
CHAT_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.just("m"),
    "messages": st.lists(message, max_size=3),
    "stream": st.booleans(),
    "stream_options": st.fixed_dictionaries({}, optional={"include_usage": values}),
    "max_tokens": st.integers(min_value=-5, max_value=2**40),
    "max_completion_tokens": st.integers(min_value=-5, max_value=2**40),
    "temperature": st.floats(allow_nan=False, allow_infinity=False),
    "n": st.integers(min_value=-2, max_value=5),
    "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=5),
    "tools": st.lists(values, max_size=2),
    "tool_choice": values,
    "response_format": values,
    "logit_bias": st.dictionaries(st.text(max_size=4), values, max_size=3),
    "user": st.text(max_size=10),
}
EMBEDDING_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "model": st.just("m"),
    "input": st.text(max_size=30)
    | st.lists(st.text(max_size=10), max_size=4)
    | st.lists(st.integers(min_value=-1, max_value=2**33), max_size=4),
    "encoding_format": st.sampled_from(["float", "base64", "int8"]),
    "dimensions": st.integers(min_value=-3, max_value=2**40),
}
KEY_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=20),
    "models": st.lists(st.text(max_size=5), max_size=3),
    "scopes": st.lists(st.sampled_from(["chat", "admin", "models", "x"]), max_size=3),
    "rpm": st.integers(min_value=-(2**65), max_value=2**65) | huge,
    "tpm": st.integers(min_value=-1, max_value=2**64) | huge,
    "max_parallel": st.integers(min_value=-1, max_value=2**63) | huge,
    "max_budget": st.floats(allow_nan=False, allow_infinity=False),
    "expires_at": st.text(max_size=25) | st.floats(allow_nan=False, allow_infinity=False),
    "metadata": values,
    "enabled": st.booleans(),
}
MODEL_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=20),
    "provider": st.sampled_from(["f", "nope"]),
    "upstream_model": st.text(max_size=10),
    "price": st.fixed_dictionaries(
        {}, optional={k: st.floats(allow_nan=False) for k in ("input", "output", "cached_input")}
    ),
}
PROVIDER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=20),
    "type": st.sampled_from(["fake", "nope"]),
    "base_url": st.text(max_size=20),
    "api_key": st.text(max_size=10),
    "headers": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    "timeout": st.floats(allow_nan=False),
    "max_connections": st.integers(min_value=-2, max_value=2**64),
    "reply": values,
}


@pytest.fixture
def client(make_client):
    gw = make_client(CONFIG, plugins=[fake])
    with gw.http(headers={"content-type": "application/json"}) as http:
        yield http


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def assert_no_5xx(answer: httpx.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        if answer.status_code >= 400:
            assert set(body["error"]) == {"message", "type", "param", "code"}


@FUZZ
@given(body=bodies(CHAT_FIELDS))
def test_chat_bodies(client, body):
    answer = client.post("/v1/chat/completions", content=encode(body))
    assert_no_5xx(answer)


@FUZZ
@given(body=bodies(EMBEDDING_FIELDS))
def test_embeddings_bodies(client, body):
    assert_no_5xx(client.post("/v1/embeddings", content=encode(body)))


@FUZZ
@given(
    raw=st.binary(max_size=200),
    path=st.sampled_from(
        [
            "/v1/chat/completions",
            "/v1/embeddings",
            "/admin/keys",
            "/admin/models",
            "/admin/providers",
        ]
    ),
)
def test_raw_bytes(client, raw, path):
    assert_no_5xx(client.post(path, content=raw))


@FUZZ
@given(
    kind=st.sampled_from(["keys", "models", "providers"]),
    body=st.data(),
    patch=st.booleans(),
)
def test_admin_bodies(client, kind, body, patch):
    fields = {"keys": KEY_FIELDS, "models": MODEL_FIELDS, "providers": PROVIDER_FIELDS}[kind]
    payload = body.draw(bodies(fields))
    if patch:
        target = {"keys": None, "models": "m", "providers": "f"}[kind]
        if target is None:
            created = client.post("/admin/keys", json={"name": "fuzz"}).json()
            target = created["id"]
        answer = client.patch(f"/admin/{kind}/{target}", content=encode(payload))
    else:
        answer = client.post(f"/admin/{kind}", content=encode(payload))
    assert_no_5xx(answer)


def corrupt(body: bytes, data: st.DataObject) -> bytes:
    """``body`` with random bytes (invalid UTF-8 included) spliced in, or cut short."""
    at = data.draw(st.integers(min_value=0, max_value=len(body)))
    junk = data.draw(st.binary(max_size=6) | st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"]))
    cut = data.draw(st.booleans())
    return body[:at] + junk + (b"" if cut else body[at:])


@FUZZ
@given(
    data=st.data(),
    kind=st.sampled_from(
        [
            ("/v1/chat/completions", CHAT_FIELDS),
            ("/v1/embeddings", EMBEDDING_FIELDS),
            ("/admin/keys", KEY_FIELDS),
            ("/admin/models", MODEL_FIELDS),
            ("/admin/providers", PROVIDER_FIELDS),
        ]
    ),
)
def test_corrupted_json(client, data, kind):
    path, fields = kind
    body = encode(data.draw(bodies(fields)))
    assert_no_5xx(client.post(path, content=corrupt(body, data)))
