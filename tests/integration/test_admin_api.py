"""The admin API for providers and models, provider secrets at rest, and usage accounting."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest

import plugbay_keys
import plugbay_openai
from plugbay.testing import Reply

SECRET = "sk-upstream-0123456789-SECRET"
PLUGINS = [plugbay_openai, plugbay_keys]


@pytest.fixture
def secret_key(monkeypatch):
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", "test-secret-key-for-the-registry")


def admin(gw) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.api_key}"})


def db_bytes(gw) -> bytes:
    database = Path(gw.settings.server.database)
    paths = [database, database.with_name(database.name + "-wal")]
    return b"".join(path.read_bytes() for path in paths if path.exists())


def add_upstream(http: httpx.Client, upstream, name="up", model="public") -> None:
    answer = http.post(
        "/admin/providers",
        json={
            "name": name,
            "type": "openai",
            "base_url": upstream.base_url,
            "api_key": SECRET,
            "headers": {"x-team": "blue"},
        },
    )
    assert answer.status_code == 201, answer.text
    answer = http.post(
        "/admin/models", json={"name": model, "provider": name, "upstream_model": "gpt-4o-mini"}
    )
    assert answer.status_code == 201, answer.text


def test_provider_made_at_run_time_serves_and_its_secret_is_encrypted(
    make_gateway, scripted_upstream, secret_key
):
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        add_upstream(http, scripted_upstream)
        shown = http.get("/admin/providers/up").json()
    assert shown["api_key"] == "sk-...CRET"
    assert shown["source"] == "api"
    assert shown["headers"] == {"x-team": "blue"}
    answer = gw.openai().chat.completions.create(
        model="public", messages=[{"role": "user", "content": "hello"}]
    )
    assert answer.model == "public"
    sent = scripted_upstream.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.headers["x-team"] == "blue"
    assert sent.json()["model"] == "gpt-4o-mini"
    assert SECRET.encode() not in db_bytes(gw)


def test_secrets_are_refused_without_a_secret_key(make_gateway, scripted_upstream, monkeypatch):
    monkeypatch.delenv("PLUGBAY_SECRET_KEY", raising=False)
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        answer = http.post(
            "/admin/providers",
            json={
                "name": "up",
                "type": "openai",
                "base_url": scripted_upstream.base_url,
                "api_key": SECRET,
            },
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "secret_key_missing"
        assert "PLUGBAY_SECRET_KEY" in answer.json()["error"]["message"]
        assert http.get("/admin/providers/up").status_code == 404


def test_changes_survive_a_restart(make_gateway, scripted_upstream, secret_key, tmp_path):
    database = tmp_path / "shared.db"
    first = make_gateway({}, plugins=PLUGINS, database=database)
    with admin(first) as http:
        add_upstream(http, scripted_upstream)
    first.stop()
    second = make_gateway({}, plugins=PLUGINS, database=database)
    answer = second.openai().chat.completions.create(
        model="public", messages=[{"role": "user", "content": "again"}]
    )
    assert answer.choices[0].message.content == "again"
    assert scripted_upstream.requests[-1].headers["authorization"] == f"Bearer {SECRET}"


def test_validation_conflicts_and_unknown_names(make_gateway, scripted_upstream, secret_key):
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        add_upstream(http, scripted_upstream)
        cases = [
            ("post", "/admin/providers", {"name": "x", "type": "nope"}, 400, "type"),
            (
                "post",
                "/admin/providers",
                {"name": "x", "type": "openai", "colour": 1},
                400,
                "colour",
            ),
            ("post", "/admin/providers", {"type": "openai"}, 400, "name"),
            ("post", "/admin/providers", {"name": "up", "type": "openai"}, 409, "name"),
            ("post", "/admin/models", {"name": "m", "provider": "ghost"}, 400, "provider"),
            ("post", "/admin/models", {"name": "public", "provider": "up"}, 409, "name"),
            (
                "post",
                "/admin/models",
                {"name": "m", "provider": "up", "price": {"input": "a"}},
                400,
                "price.input",
            ),
            ("get", "/admin/providers/ghost", None, 404, "name"),
            ("patch", "/admin/models/ghost", {}, 404, "name"),
            ("delete", "/admin/providers/up", None, 409, "name"),  # still serves `public`
        ]
        for method, path, body, status, param in cases:
            answer = http.request(method, path, json=body)
            assert answer.status_code == status, (path, body, answer.text)
            assert answer.json()["error"]["param"] == param, (path, body, answer.text)
        assert http.delete("/admin/models/public").status_code == 200
        assert http.delete("/admin/providers/up").status_code == 200
    with pytest.raises(openai.NotFoundError):
        gw.openai().chat.completions.create(
            model="public", messages=[{"role": "user", "content": "x"}]
        )


def test_pagination(make_gateway, scripted_upstream, secret_key):
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        add_upstream(http, scripted_upstream)
        for index in range(4):
            assert (
                http.post("/admin/models", json={"name": f"m{index}", "provider": "up"}).status_code
                == 201
            )
        first = http.get("/admin/models", params={"limit": 2}).json()
        assert [m["name"] for m in first["data"]] == ["m0", "m1"]
        assert first["total"] == 5
        assert first["has_more"] is True
        second = http.get("/admin/models", params={"limit": 2, "after": first["last_id"]}).json()
        assert [m["name"] for m in second["data"]] == ["m2", "m3"]
        third = http.get("/admin/models", params={"limit": 2, "after": second["last_id"]}).json()
        assert [m["name"] for m in third["data"]] == ["public"]
        assert third["has_more"] is False
        assert http.get("/admin/models", params={"limit": 0}).status_code == 400


def test_config_entries_are_read_only_but_prices_can_be_overridden(make_gateway, scripted_upstream):
    gw = make_gateway(
        {
            "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
            "models": [{"name": "gpt-4o-mini", "provider": "up"}],
        },
        plugins=PLUGINS,
    )
    with admin(gw) as http:
        model = http.get("/admin/models/gpt-4o-mini").json()
        assert model["price"] == {"input": 0.15, "output": 0.6, "cached_input": 0.075}
        assert (
            http.patch("/admin/models/gpt-4o-mini", json={"upstream_model": "x"}).status_code == 409
        )
        assert http.delete("/admin/providers/up").json()["error"]["code"] == "managed_by_config"
        answer = http.patch("/admin/models/gpt-4o-mini", json={"price": {"input": 1, "output": 2}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["price"] == {"input": 1.0, "output": 2.0}
        assert answer.json()["price_overridden"] is True


def test_provider_test_endpoint_reports_latency_and_answer_or_error(
    make_gateway, scripted_upstream
):
    gw = make_gateway(
        {
            "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
            "models": [{"name": "public", "provider": "up", "upstream_model": "gpt-x"}],
        },
        plugins=PLUGINS,
    )
    with admin(gw) as http:
        good = http.post("/admin/providers/up/test").json()
        scripted_upstream.script(Reply.error(401, "Incorrect API key provided"))
        bad = http.post("/admin/providers/up/test").json()
    assert good["ok"] is True
    assert good["latency_ms"] > 0
    assert good["response"]["choices"][0]["message"]["content"] == "ping"
    assert scripted_upstream.requests[0].json()["max_tokens"] == 1
    assert bad["ok"] is False
    assert bad["error"]["code"] == "upstream_auth_error"


def test_usage_is_recorded_priced_and_aggregated(make_gateway, scripted_upstream):
    gw = make_gateway(
        {
            "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
            "models": [
                {"name": "mini", "provider": "up", "upstream_model": "gpt-4o-mini"},
                {"name": "mystery", "provider": "up", "upstream_model": "homebrew-1"},
            ],
        },
        plugins=PLUGINS,
    )
    with admin(gw) as http:
        key = http.post("/admin/keys", json={"name": "app"}).json()
    client = gw.openai(api_key=key["key"])
    messages = [{"role": "user", "content": "one two three"}]
    client.chat.completions.create(model="mini", messages=messages)
    chunks = list(client.chat.completions.create(model="mini", messages=messages, stream=True))
    client.chat.completions.create(model="mystery", messages=messages)
    scripted_upstream.script(Reply.error(500, "boom", type="server_error"))
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="mini", messages=messages)
    assert info.value.status_code == 502
    # the client did not ask for the usage chunk: we asked upstream, and stripped it
    assert scripted_upstream.requests[1].json()["stream_options"] == {"include_usage": True}
    assert all(chunk.usage is None for chunk in chunks)
    with admin(gw) as http:
        report = http.get("/admin/usage", params={"group_by": "model"}).json()
    rows = {row["model"]: row for row in report["data"]}
    # gpt-4o-mini: 10 prompt + 3 completion tokens at $0.15/$0.60 per million
    assert rows["mini"]["requests"] == 3
    assert rows["mini"]["errors"] == 1
    assert rows["mini"]["error_rate"] == pytest.approx(1 / 3)
    assert rows["mini"]["prompt_tokens"] == 20
    assert rows["mini"]["completion_tokens"] == 6
    assert rows["mini"]["cost_usd"] == pytest.approx(2 * (10 * 0.15 + 3 * 0.60) / 1e6)
    assert rows["mystery"]["cost_usd"] is None
    assert rows["mystery"]["unpriced_requests"] == 1
    assert report["totals"]["requests"] == 4
    with admin(gw) as http:
        shown = http.get(f"/admin/keys/{key['id']}").json()
    assert shown["spend"] == pytest.approx(rows["mini"]["cost_usd"])


def test_stream_without_upstream_usage_is_counted(make_gateway, scripted_upstream):
    gw = make_gateway(
        {
            "providers": [{"name": "up", "type": "openai", "base_url": scripted_upstream.base_url}],
            "models": [{"name": "mini", "provider": "up", "upstream_model": "gpt-4o-mini"}],
        },
        plugins=PLUGINS,
    )
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini"}
    events = [{**chunk, "choices": [{"index": 0, "delta": {"content": w}}]} for w in "abcde"]
    events.append({**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    scripted_upstream.script(Reply.sse([*events, "data: [DONE]\n\n"]))
    stream = gw.openai().chat.completions.create(
        model="mini",
        messages=[{"role": "user", "content": "x" * 40}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "abcde"
    with admin(gw) as http:
        totals = http.get("/admin/usage").json()["totals"]
    assert totals["requests"] == 1
    assert totals["prompt_tokens"] == 10
    assert totals["completion_tokens"] == 4


def test_usage_report_rejects_unknown_groupings(make_gateway):
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        answer = http.get("/admin/usage", params={"group_by": "colour"})
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "group_by"


def test_providers_made_at_run_time_carry_their_bounds(make_gateway, scripted_upstream, secret_key):
    gw = make_gateway({}, plugins=PLUGINS)
    with admin(gw) as http:
        add_upstream(http, scripted_upstream)
        shown = http.get("/admin/providers/up").json()
        assert (shown["timeout"], shown["first_byte_timeout"], shown["idle_timeout"]) == (
            600.0,
            None,
            None,
        )
        assert shown["max_response_size"] == 64 * 1024 * 1024
        changed = http.patch(
            "/admin/providers/up", json={"idle_timeout": 0.4, "max_response_size": 4096}
        )
        assert changed.status_code == 200, changed.text
        assert (changed.json()["idle_timeout"], changed.json()["max_response_size"]) == (0.4, 4096)
        refused = http.patch("/admin/providers/up", json={"first_byte_timeout": -1})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "first_byte_timeout"
    # The running provider is rebuilt with them (the registry reloads within ~250 ms).
    first = {"id": "c", "model": "gpt-4o-mini", "choices": []}
    scripted_upstream.script(Reply.sse([first, first], hang_after=1))
    deadline = time.monotonic() + 10
    while gw.gateway.provider("up").http.idle_timeout != 0.4:
        assert time.monotonic() < deadline, "the change never reached the gateway"
        time.sleep(0.02)
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        list(
            gw.openai().chat.completions.create(
                model="public", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    assert caught.value.code == "upstream_timeout"
    assert time.monotonic() - started < 5
