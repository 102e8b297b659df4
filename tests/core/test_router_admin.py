"""Deployments managed through the admin API: created, served, changed, refused when wrong."""

from __future__ import annotations

import pytest

from plugbay.testing import fake

CONFIG = {
    "providers": [{"name": "f1", "type": "fake"}, {"name": "f2", "type": "fake"}],
    "models": [{"name": "m", "provider": "f1"}],
}
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def admin(make_client):
    gw = make_client(CONFIG, plugins=[fake])
    with gw.http() as client:
        yield client


def test_a_model_with_deployments_is_created_served_and_changed(admin):
    created = admin.post(
        "/admin/models",
        json={
            "name": "multi",
            "strategy": "priority",
            "deployments": [
                {"provider": "f1", "model": "one", "priority": 1},
                {"provider": "f2", "model": "two", "priority": 0, "weight": 2},
            ],
            "fallbacks": ["m"],
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["provider"] == "f1"  # the first deployment's
    assert [d["provider"] for d in body["deployments"]] == ["f1", "f2"]
    answer = admin.post("/v1/chat/completions", json={**CHAT, "model": "multi"})
    assert answer.status_code == 200
    assert answer.headers["x-plugbay-deployment"] == "f2/two"  # lower priority first
    changed = admin.patch(
        "/admin/models/multi", json={"deployments": [{"provider": "f1", "model": "only"}]}
    )
    assert changed.status_code == 200, changed.text
    answer = admin.post("/v1/chat/completions", json={**CHAT, "model": "multi"})
    assert answer.headers["x-plugbay-deployment"] == "f1/only"
    detailed = admin.get("/health/detailed").json()
    assert "f1/only" in detailed["deployments"]
    assert detailed["deployments"]["f1/only"]["models"] == ["multi"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"name": "x", "deployments": [{"provider": "f1"}, {"provider": "nope"}]},
         "deployments[1].provider"),
        ({"name": "x", "deployments": [{"provider": "f1", "weight": 0}]}, "deployments[0].weight"),
        ({"name": "x", "deployments": [{"provider": "f1", "wieght": 2}]}, "deployments[0].wieght"),
        ({"name": "x", "provider": "f1", "strategy": "fastest"}, "strategy"),
        ({"name": "x", "provider": "f1", "retry": {"attempts": 0}}, "retry.attempts"),
        ({"name": "x"}, None),
        ({"name": "x", "deployments": [{"provider": "f1"}, {"provider": "f1"}]}, None),
    ],
)  # fmt: skip
def test_bad_deployments_are_a_400_naming_the_field(admin, body, param):
    answer = admin.post("/admin/models", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param, error
    assert admin.get("/admin/models/x").status_code == 404  # nothing stored
