"""Deployments managed through the admin API: created, served, changed, refused when wrong."""

from __future__ import annotations

import json

import pytest

from plugbay.testing import fake
from tests.helpers import clean_env, run_cli

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


def test_the_cli_creates_a_model_with_deployments(tmp_path):
    db = tmp_path / "plugbay.db"
    (tmp_path / "plugbay.toml").write_text(f'[server]\ndatabase = "{db}"\n')
    env = {**clean_env(), "PLUGBAY_PLUGINS": "echo"}
    for name in ("e1", "e2"):
        made = run_cli("providers", "create", f"name={name}", "type=echo", cwd=tmp_path, env=env)
        assert made.returncode == 0, made.stderr
    deployments = json.dumps([{"provider": "e1"}, {"provider": "e2", "weight": 3}])
    result = run_cli(
        "models", "create", "name=pair", f"deployments={deployments}", "strategy=weighted",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    shown = json.loads(run_cli("models", "show", "pair", cwd=tmp_path, env=env).stdout)
    assert shown["strategy"] == "weighted"
    assert [d["weight"] for d in shown["deployments"]] == [1.0, 3.0]
