"""A restart with ``PLUGBAY_SECRET_KEY`` missing or changed: said clearly, early, everywhere."""

from __future__ import annotations

import logging
import sqlite3

import httpx
import openai
import pytest

from tests.core.support import CANNED_CONFIG, canned

SECRET = "sk-upstream-0123456789-SECRET"
KEY_A = "the-secret-key-the-provider-was-stored-with"
KEY_B = "another-secret-key-entirely"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def admin(gw) -> httpx.Client:
    return gw.http()


@pytest.fixture
def database(make_client, tmp_path, monkeypatch):
    """A registry holding provider ``up`` (its api key encrypted under KEY_A) and model ``m``."""
    path = tmp_path / "gw.db"
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", KEY_A)
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    with admin(gw) as http:
        answer = http.post(
            "/admin/providers",
            json={"name": "up", "type": "canned", "api_key": SECRET, "text": "from up"},
        )
        assert answer.status_code == 201, answer.text
        answer = http.post("/admin/models", json={"name": "m", "provider": "up"})
        assert answer.status_code == 201, answer.text
    assert gw.openai().chat.completions.create(**CHAT).choices[0].message.content == "from up"
    gw.stop()
    return path


def restart(make_client, database, monkeypatch, secret_key):
    if secret_key is None:
        monkeypatch.delenv("PLUGBAY_SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("PLUGBAY_SECRET_KEY", secret_key)
    return make_client(CANNED_CONFIG, plugins=[canned], database=database)


@pytest.mark.parametrize(
    ("secret_key", "code", "admin_status"),
    [(None, "secret_key_missing", 503), (KEY_B, "secret_key_mismatch", 409)],
    ids=["missing", "changed"],
)
def test_an_undecryptable_provider_is_reported_everywhere(
    make_client, database, monkeypatch, caplog, secret_key, code, admin_status
):
    with caplog.at_level(logging.WARNING, logger="plugbay"):
        gw = restart(make_client, database, monkeypatch, secret_key)
    # start-up: one error naming the provider, the cause and its models; never the secret
    [startup] = [r for r in caplog.records if "'up'" in r.getMessage()]
    assert startup.levelno == logging.ERROR
    assert code in startup.getMessage()
    assert "PLUGBAY_SECRET_KEY" in startup.getMessage()
    assert "answer 503 meanwhile: m" in startup.getMessage()
    assert SECRET not in caplog.text

    ready = gw.http(auth=False).get("/health/ready")
    assert ready.status_code == 200
    health = ready.json()
    assert health["status"] == "degraded"
    assert health["models"] == 1  # `canned` still serves
    [problem] = health["unavailable"]
    assert problem["provider"] == "up"
    assert problem["code"] == code
    assert problem["models"] == ["m"]
    assert "PLUGBAY_SECRET_KEY" in problem["message"]

    with pytest.raises(openai.APIStatusError) as info:
        gw.openai().chat.completions.create(**CHAT)
    assert info.value.status_code == 503
    error = info.value.body
    assert error["code"] == code
    assert error["param"] == "model"
    assert "'up'" in error["message"]
    assert gw.openai().chat.completions.create(model="canned", messages=CHAT["messages"]).choices

    with admin(gw) as http:
        listed = {p["name"]: p for p in http.get("/admin/providers").json()["data"]}
        shown = http.get("/admin/providers/up")
        patched = http.patch("/admin/providers/up", json={"text": "changed"})
        tested = http.post("/admin/providers/up/test")
        model = http.get("/admin/models/m").json()
    assert listed["c"]["status"] == "ok"
    assert listed["c"]["problem"] is None
    up = listed["up"]
    assert up["status"] == "undecryptable"
    assert up["api_key"] is None
    assert up["problem"]["code"] == code
    assert shown.status_code == 200
    assert shown.json() == up
    assert model["status"] == "undecryptable"
    for answer in (patched, tested):
        assert answer.status_code == admin_status, answer.text
        assert answer.json()["error"]["code"] == code
        assert "PLUGBAY_SECRET_KEY" in answer.json()["error"]["message"]
        assert "'up'" in answer.json()["error"]["message"]
    assert SECRET not in caplog.text


def test_a_changed_key_is_fixed_by_giving_the_provider_a_new_api_key(
    make_client, database, monkeypatch, caplog
):
    gw = restart(make_client, database, monkeypatch, KEY_B)
    caplog.set_level(logging.INFO, logger="plugbay")
    with admin(gw) as http:
        answer = http.patch("/admin/providers/up", json={"api_key": "sk-new-0123456789-NEWKEY"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ok"
        assert answer.json()["api_key"] == "sk-...WKEY"
    assert gw.openai().chat.completions.create(**CHAT).choices[0].message.content == "from up"
    health = gw.http(auth=False).get("/health/ready").json()
    assert health["status"] == "ready"
    assert "unavailable" not in health
    assert "provider 'up' can serve again" in caplog.text


def test_a_missing_key_still_lets_the_provider_be_deleted(make_client, database, monkeypatch):
    gw = restart(make_client, database, monkeypatch, None)
    with admin(gw) as http:
        answer = http.patch("/admin/providers/up", json={"api_key": "sk-new-0123456789"})
        assert answer.status_code == 400  # nothing can be encrypted without the key either
        assert answer.json()["error"]["code"] == "secret_key_missing"
        assert http.delete("/admin/models/m").status_code == 200
        assert http.delete("/admin/providers/up").status_code == 200
    assert gw.http(auth=False).get("/health/ready").json()["status"] == "ready"
    with pytest.raises(openai.NotFoundError):
        gw.openai().chat.completions.create(**CHAT)


def test_a_provider_whose_settings_went_bad_is_shown_and_can_be_patched(
    make_client, tmp_path, monkeypatch
):
    path = tmp_path / "gw.db"
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    with admin(gw) as http:
        answer = http.post("/admin/providers", json={"name": "up", "type": "canned"})
        assert answer.status_code == 201, answer.text
        answer = http.post("/admin/models", json={"name": "m", "provider": "up"})
        assert answer.status_code == 201, answer.text
    gw.stop()
    with sqlite3.connect(path) as db:  # as an older plugbay, or a person with sqlite3, left it
        db.execute(
            "UPDATE providers SET settings = json_set(settings, '$.options.text', 1)"
            " WHERE name = 'up'"
        )
    gw = make_client(CANNED_CONFIG, plugins=[canned], database=path)
    with admin(gw) as http:
        shown = http.get("/admin/providers/up").json()
        assert shown["status"] == "misconfigured"
        assert shown["problem"]["code"] == "provider_misconfigured"
        tested = http.post("/admin/providers/up/test")
        assert tested.status_code == 409
        assert tested.json()["error"]["code"] == "provider_misconfigured"
        with pytest.raises(openai.APIStatusError) as info:
            gw.openai().chat.completions.create(**CHAT)
        assert info.value.status_code == 503
        assert info.value.body["code"] == "provider_misconfigured"
        # a PATCH is how it gets fixed: not refused for the problem it fixes
        answer = http.patch("/admin/providers/up", json={"text": "fixed"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "ok"
    assert gw.openai().chat.completions.create(**CHAT).choices[0].message.content == "fixed"
