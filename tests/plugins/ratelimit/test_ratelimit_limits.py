"""The limiter in a running gateway: headers, refusals, tokens, scopes, in-flight."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import openai
import pytest

HELLO = [{"role": "user", "content": "hello there world"}]


def post(gw, key: str, body: dict, path: str = "/v1/chat/completions") -> httpx.Response:
    return httpx.post(
        gw.url + path, json=body, headers={"authorization": f"Bearer key-{key}"}, timeout=30
    )


def chat(gw, key: str = "a", model: str = "small", **extra) -> httpx.Response:
    return post(gw, key, {"model": model, "messages": HELLO, **extra})


def test_requests_per_minute_with_openai_headers(limited_gateway, upstream_calls):
    gw = limited_gateway(keys={"a": {"rpm": 3}})
    answers = [chat(gw) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0"]
    assert all(a.headers["x-ratelimit-limit-requests"] == "3" for a in answers)
    reset = answers[0].headers["x-ratelimit-reset-requests"]
    assert reset.endswith("s")
    assert reset.startswith(("1m", "59.", "60"))
    assert "x-ratelimit-limit-tokens" not in answers[0].headers  # no token limit applies

    refused = chat(gw)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert error["code"] == "rate_limit_exceeded"
    assert "requests per minute" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-limit-requests"] == "3"
    assert len(upstream_calls) == 3  # refused before any upstream call
    assert chat(gw, key="b").status_code == 200  # another key is not limited


def test_openai_sdk_rate_limit_error_carries_the_headers(limited_gateway):
    gw = limited_gateway(keys={"a": {"rpm": 1, "tpm": 100_000}})
    client = gw.openai(api_key="key-a")
    client.chat.completions.create(model="small", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="small", messages=HELLO)
    headers = caught.value.response.headers
    assert caught.value.status_code == 429
    assert caught.value.code == "rate_limit_exceeded"
    assert headers["x-ratelimit-limit-requests"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-limit-tokens"] == "100000"
    assert "x-ratelimit-reset-tokens" in headers
    assert int(headers["retry-after"]) >= 1
    assert int(headers["retry-after-ms"]) >= 1


def test_tpm_refuses_a_request_whose_estimate_exceeds_it(limited_gateway, upstream_calls):
    gw = limited_gateway(keys={"a": {"tpm": 500}})
    refused = chat(gw, max_tokens=600)
    assert refused.status_code == 429
    assert "tokens per minute" in refused.json()["error"]["message"]
    assert refused.headers["x-ratelimit-limit-tokens"] == "500"
    assert upstream_calls == []
    fits = chat(gw, max_tokens=400)
    assert fits.status_code == 200
    # charged: the prompt estimate plus 400; then settled to the real usage (10 + 3 words)
    assert 500 - 400 - 30 < int(fits.headers["x-ratelimit-remaining-tokens"]) < 100
    again = chat(gw, max_tokens=400)
    assert again.status_code == 200, again.text
    assert int(again.headers["x-ratelimit-remaining-tokens"]) < 100 - 13


def test_default_max_tokens_is_charged_when_the_request_sets_none(limited_gateway):
    gw = limited_gateway({"default_max_tokens": 900}, keys={"a": {"tpm": 800}})
    assert chat(gw).status_code == 429
    assert chat(gw, max_completion_tokens=100).status_code == 200


def test_tokens_are_reconciled_after_the_answer(limited_gateway):
    gw = limited_gateway(keys={"a": {"tpm": 10_000}})
    first = chat(gw, max_tokens=5000)
    charged = 10_000 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert charged > 5000
    second = chat(gw, max_tokens=5000)
    # the first request used 13 tokens, not its estimate: that was given back
    assert 10_000 - int(second.headers["x-ratelimit-remaining-tokens"]) == charged + 13


def test_stream_carries_headers_and_is_reconciled_when_it_ends(limited_gateway):
    gw = limited_gateway(keys={"a": {"rpm": 10, "tpm": 10_000}})
    body = {"model": "small", "messages": HELLO, "stream": True, "max_tokens": 5000}
    with httpx.stream(
        "POST",
        gw.url + "/v1/chat/completions",
        json={**body, "x_chunk_delay": 1},  # the request "during" comes well inside 3 s
        headers={"authorization": "Bearer key-a"},
        timeout=30,
    ) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["x-ratelimit-remaining-requests"] == "9"
        charged = 10_000 - int(streamed.headers["x-ratelimit-remaining-tokens"])
        lines = streamed.iter_lines()
        assert next(lines).startswith("data: ")
        during = chat(gw, max_tokens=1)  # the stream still holds its estimate
        assert 10_000 - int(during.headers["x-ratelimit-remaining-tokens"]) > charged
        text = "".join(lines)
    assert "[DONE]" in text
    after = chat(gw, max_tokens=1)
    used = 10_000 - int(after.headers["x-ratelimit-remaining-tokens"])
    # now only the stream's real usage (13) and the two small requests' count
    assert used < charged
    assert used <= 13 + 13 + 2 * 30


def test_model_and_key_on_model_limits(limited_gateway):
    gw = limited_gateway({"models": {"big": {"rpm": 3, "key_rpm": 2}}})
    assert chat(gw, "a", "big").status_code == 200
    assert chat(gw, "a", "big").status_code == 200
    refused = chat(gw, "a", "big")
    assert refused.status_code == 429
    assert "key+model:a:big" in refused.json()["error"]["message"]
    assert chat(gw, "a", "small").status_code == 200  # other models are not limited
    assert chat(gw, "b", "big").status_code == 200
    refused = chat(gw, "c", "big")
    assert refused.status_code == 429
    assert "model:big" in refused.json()["error"]["message"]


def test_config_key_limits_and_precedence(limited_gateway):
    gw = limited_gateway(
        {"keys": {"*": {"rpm": 1}, "b": {"rpm": 2}}},
        keys={"a": {}, "b": {}, "c": {"rpm": 3}},
    )
    assert [chat(gw, "a").status_code for _ in range(2)] == [200, 429]  # "*"
    assert [chat(gw, "b").status_code for _ in range(3)] == [200, 200, 429]  # keys.b
    assert [chat(gw, "c").status_code for _ in range(4)] == [200, 200, 200, 429]  # its own


def test_embeddings_are_limited(limited_gateway):
    gw = limited_gateway(keys={"a": {"rpm": 1, "tpm": 1000}})
    body = {"model": "small", "input": ["some text to embed"]}
    first = post(gw, "a", body, "/v1/embeddings")
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    assert post(gw, "a", body, "/v1/embeddings").status_code == 429


def test_requests_in_flight_per_key(limited_gateway, upstream_calls):
    gw = limited_gateway(keys={"a": {"max_parallel": 2}})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = [pool.submit(chat, gw, "a", x_delay=3) for _ in range(2)]
        deadline = time.monotonic() + 30
        while len(upstream_calls) < 2:  # both slow ones were admitted and are in flight
            assert time.monotonic() < deadline
            time.sleep(0.01)
        refused = chat(gw, "a")
        assert refused.status_code == 429
        assert "requests in flight" in refused.json()["error"]["message"]
        assert [f.result().status_code for f in slow] == [200, 200]
    assert chat(gw, "a").status_code == 200  # released when they ended
    assert chat(gw, "b").status_code == 200


def test_limits_are_shared_by_gateways_on_one_state_file(limited_gateway, tmp_path):
    state = str(tmp_path / "shared.ratelimit")
    one = limited_gateway({"path": state}, keys={"a": {"rpm": 3}})
    two = limited_gateway({"path": state}, keys={"a": {"rpm": 3}})
    codes = [chat(gw).status_code for gw in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]


def test_unknown_backend_is_a_config_error(make_gateway):
    import plugbay_ratelimit
    from plugbay._settings import ConfigError

    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        make_gateway({"ratelimit": {"backend": "nope"}}, plugins=[plugbay_ratelimit])
    with pytest.raises(ConfigError, match="ratelimit"):
        make_gateway({"ratelimit": {"rpm": 3}}, plugins=[plugbay_ratelimit])
