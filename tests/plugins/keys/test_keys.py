from __future__ import annotations

import time
from pathlib import Path

import httpx
import openai
import pytest


def admin(gw) -> httpx.Client:
    return httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {gw.api_key}"})


def create_key(gw, **spec) -> dict:
    with admin(gw) as client:
        answer = client.post("/admin/keys", json={"name": "app", **spec})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_created_key_is_shown_once_and_works(gw):
    created = create_key(gw)
    assert created["key"].startswith("pb-")
    assert len(created["key"]) >= 3 + 43
    client = gw.openai(api_key=created["key"])
    answer = client.chat.completions.create(
        model="small", messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "ok"
    with admin(gw) as http:
        shown = http.get(f"/admin/keys/{created['id']}").json()
        listed = http.get("/admin/keys").json()
    assert "key" not in shown
    assert shown["key_hint"] == "pb-..." + created["key"][-4:]
    assert all("key" not in item for item in listed["data"])
    assert listed["total"] == 1


def test_raw_key_never_reaches_the_database_file(gw):
    created = create_key(gw)
    client = gw.openai(api_key=created["key"])
    client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}])
    with admin(gw) as http:
        http.get("/admin/usage")  # flushes usage
    database = Path(gw.settings.server.database)
    data = b"".join(
        path.read_bytes()
        for path in (database, database.with_name(database.name + "-wal"))
        if path.exists()
    )
    assert created["key"].encode() not in data
    assert created["key"][3:].encode() not in data


@pytest.mark.parametrize(
    ("change", "code"),
    [({"enabled": False}, "key_disabled"), ({"expires_at": time.time() - 1}, "key_expired")],
)
def test_disabled_or_expired_key_is_401(gw, change, code):
    created = create_key(gw)
    with admin(gw) as http:
        assert http.patch(f"/admin/keys/{created['id']}", json=change).status_code == 200
    client = gw.openai(api_key=created["key"])
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == code


def test_revoked_and_unknown_keys_are_401(gw):
    created = create_key(gw)
    with admin(gw) as http:
        assert http.delete(f"/admin/keys/{created['id']}").json()["revoked"] is True
    with pytest.raises(openai.AuthenticationError) as info:
        gw.openai(api_key=created["key"]).models.list()
    assert info.value.code == "key_revoked"
    with pytest.raises(openai.AuthenticationError):
        gw.openai(api_key="pb-" + "x" * 43).models.list()


def test_model_allow_list_and_models_listing(gw):
    created = create_key(gw, models=["small", "team/*"])
    client = gw.openai(api_key=created["key"])
    assert sorted(m.id for m in client.models.list()) == ["small", "team/alpha"]
    client.chat.completions.create(model="team/alpha", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.chat.completions.create(model="big", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_allowed"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("big")


def test_missing_scope_is_403(gw):
    created = create_key(gw, scopes=["chat"])
    client = gw.openai(api_key=created["key"])
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.embeddings.create(model="small", input="x")
    assert info.value.code == "missing_scope"
    with httpx.Client(base_url=gw.url) as http:
        answer = http.get("/admin/keys", headers={"authorization": f"Bearer {created['key']}"})
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "missing_scope"


def test_admin_scope_key_can_use_the_admin_api(gw):
    created = create_key(gw, scopes=["admin"])
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {created['key']}"}) as h:
        assert h.get("/admin/keys").status_code == 200


def test_budget_is_enforced_against_recorded_spend(gw):
    # small costs $1/M input, $2/M output; the fake answers 10 + 1 tokens = $0.000012
    created = create_key(gw, max_budget=0.00002)
    client = gw.openai(api_key=created["key"])
    client.chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}])
    client.chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="small", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "budget_exceeded"
    with admin(gw) as http:
        shown = http.get(f"/admin/keys/{created['id']}").json()
    assert shown["spend"] == pytest.approx(0.000024)


def test_validation_errors_name_the_field(gw):
    with admin(gw) as http:
        for body, param in [
            ({}, "name"),
            ({"name": "x", "rpm": "fast"}, "rpm"),
            ({"name": "x", "rpm": 0}, "rpm"),
            ({"name": "x", "scopes": ["root"]}, "scopes"),
            ({"name": "x", "expires_at": "tomorrow"}, "expires_at"),
            ({"name": "x", "colour": "red"}, "colour"),
        ]:
            answer = http.post("/admin/keys", json=body)
            assert answer.status_code == 400, body
            assert answer.json()["error"]["param"] == param, answer.json()
        assert http.get("/admin/keys/key_nope").status_code == 404
        assert http.patch("/admin/keys/key_nope", json={"rpm": 3}).status_code == 404
