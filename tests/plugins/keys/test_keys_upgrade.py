"""Keys made by plugbay before the keys table had its own history keep working after the
upgrade: the keys plugin reads them through the registry API, and their spend keeps growing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import openai
import pytest

import plugbay.testing.fake
import plugbay_keys

DUMP = Path(__file__).resolve().parents[2] / "core" / "data" / "registry-v4.sql"
ALPHA = "pb-xzt8cD6I8HUEmpwIJ6RIAWjprwmj6RNsae3s_m-3FM4"  # models: ["echo"], spend 0.75
BETA = "pb-KHQD9KUXLg6HiB4D0k5LOUlkO84jntJRG7DBYCOG98I"  # scopes: chat, models
GAMMA = "pb-7zDu5xzVUNL9PgsiUoZCEdNSjdgM45_g1rOEgXQMoyo"  # revoked
HI = [{"role": "user", "content": "hi"}]
CONFIG = {
    "providers": [{"name": "f", "type": "fake", "reply": "ok"}],
    "models": [{"name": "small", "provider": "f", "price": {"input": 1.0, "output": 2.0}}],
}


def test_keys_from_a_v4_registry_authenticate_as_before(make_gateway, tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(DUMP.read_text())
    db.close()
    gw = make_gateway(CONFIG, plugins=[plugbay.testing.fake, plugbay_keys], database=path)

    beta = gw.openai(api_key=BETA)
    assert beta.chat.completions.create(model="small", messages=HI).choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError) as denied:  # its allow-list survived
        gw.openai(api_key=ALPHA).chat.completions.create(model="small", messages=HI)
    assert denied.value.code == "model_not_allowed"
    with pytest.raises(openai.AuthenticationError) as revoked:
        gw.openai(api_key=GAMMA).models.list()
    assert revoked.value.code == "key_revoked"

    headers = {"authorization": f"Bearer {gw.api_key}"}
    with httpx.Client(base_url=gw.url, headers=headers) as admin:
        keys = {k["name"]: k for k in admin.get("/admin/keys").json()["data"]}
    assert keys["alpha"]["spend"] == 0.75
    assert keys["alpha"]["metadata"] == {"team": "a"}
    assert keys["beta"]["spend"] > 0  # this request's cost, written to the old table
    assert keys["gamma"]["revoked"] is True
