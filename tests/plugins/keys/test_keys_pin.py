"""A key pins a deployment's provider with `x-provider` only when it has the `pin` scope."""

from __future__ import annotations

import plugbay.testing.fake
import plugbay_keys

CONFIG = {
    "providers": [{"name": "f1", "type": "fake"}, {"name": "f2", "type": "fake"}],
    "models": [{"name": "m", "deployments": [{"provider": "f1"}, {"provider": "f2"}]}],
}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_only_a_key_with_the_pin_scope_chooses_the_provider(make_client):
    gw = make_client(CONFIG, plugins=[plugbay.testing.fake, plugbay_keys])
    admin = gw.http()
    keys = {}
    for name, scopes in {"pinner": ["chat", "pin"], "plain": ["chat"]}.items():
        made = admin.post("/admin/keys", json={"name": name, "scopes": scopes})
        assert made.status_code == 201, made.text
        keys[name] = made.json()["key"]
    pinned = gw.http(api_key=keys["pinner"]).post(
        "/v1/chat/completions", json=CHAT, headers={"x-provider": "f2"}
    )
    assert pinned.headers["x-plugbay-deployment"] == "f2/m"
    ignored = gw.http(api_key=keys["plain"]).post(
        "/v1/chat/completions", json=CHAT, headers={"x-provider": "f2"}
    )
    assert ignored.status_code == 200
    assert ignored.headers["x-plugbay-deployment"] == "f1/m"  # priority: the first
    unknown = admin.post("/admin/keys", json={"name": "x", "scopes": ["pinn"]})
    assert unknown.status_code == 400
    assert "pin" in unknown.json()["error"]["message"]
