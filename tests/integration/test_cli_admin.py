"""``plugbay keys|providers|models|usage``, on the registry directly and against a gateway."""

from __future__ import annotations

import json

import openai
import pytest
from click.testing import CliRunner

import plugbay_keys
import plugbay_openai
from plugbay._cli import cli


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "plugbay.toml"
    path.write_text(
        f'[server]\ndatabase = "{tmp_path / "gw.db"}"\n\n'
        '[[providers]]\nname = "echo"\ntype = "echo"\n\n'
        '[[models]]\nname = "echo"\nprovider = "echo"\n'
    )
    return str(path)


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_on_the_registry_directly(config):
    created = json.loads(
        run(
            "keys",
            "--config",
            config,
            "--json",
            "create",
            "ci",
            "--model",
            "echo",
            "--rpm",
            "5",
            "--metadata",
            '{"team": "a"}',
        )
    )
    assert created["key"].startswith("pb-")
    assert created["models"] == ["echo"]
    assert created["rpm"] == 5
    assert created["metadata"] == {"team": "a"}
    listed = run("keys", "--config", config, "list")
    assert created["id"] in listed
    assert created["key"] not in listed
    updated = json.loads(
        run("keys", "--config", config, "update", created["id"], "--tpm", "9", "--disable")
    )
    assert (updated["tpm"], updated["enabled"]) == (9, False)
    assert "Revoked" in run("keys", "--config", config, "revoke", created["id"])
    shown = json.loads(run("keys", "--config", config, "show", created["id"]))
    assert shown["revoked"] is True


def test_errors_are_messages_not_tracebacks(config):
    result = CliRunner().invoke(cli, ["keys", "--config", config, "show", "key_nope"])
    assert result.exit_code == 1
    assert "404: No key with id 'key_nope'" in result.output
    result = CliRunner().invoke(
        cli, ["models", "--config", config, "create", "name=x", "provider=ghost"]
    )
    assert result.exit_code == 1
    assert "400: provider: no provider named 'ghost'" in result.output


def test_against_a_running_gateway(make_gateway, scripted_upstream, monkeypatch):
    gw = make_gateway({}, plugins=[plugbay_openai, plugbay_keys])
    monkeypatch.setenv("PLUGBAY_SECRET_KEY", "cli-test-secret")
    connect = ["--url", gw.url, "--key", gw.api_key]
    # the gateway reads PLUGBAY_SECRET_KEY at start-up: providers without secrets only here
    run(
        "providers",
        *connect,
        "create",
        "name=up",
        "type=openai",
        f"base_url={scripted_upstream.base_url}",
    )
    run("models", *connect, "create", "name=public", "provider=up", "upstream_model=gpt-4o-mini")
    assert "public" in run("models", *connect, "list")
    created = json.loads(run("keys", *connect, "--json", "create", "app"))
    client = gw.openai(api_key=created["key"])
    client.chat.completions.create(model="public", messages=[{"role": "user", "content": "a b"}])
    table = run("usage", *connect, "--group-by", "model")
    header, row, total = table.splitlines()[:3]
    assert header.split()[:3] == ["MODEL", "REQUESTS", "ERRORS"]
    assert row.split()[:3] == ["public", "1", "0"]
    assert total.split()[:2] == ["TOTAL", "1"]
    report = json.loads(run("usage", *connect, "--json"))
    assert report["totals"]["requests"] == 1
    run("keys", *connect, "revoke", created["id"])
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    probe = json.loads(run("providers", *connect, "test", "up"))
    assert probe["ok"] is True
