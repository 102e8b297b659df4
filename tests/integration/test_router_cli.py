"""Deployments made with the CLI, on the registry directly (the echo adapter installed)."""

from __future__ import annotations

import json

from tests.helpers import clean_env, run_cli


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
