"""Discovery from the ``plugbay`` entry-point group, allow- and block-lists, listing."""

from __future__ import annotations

import json

import httpx
import pytest

from plugbay._plugins import PluginLoadError, PluginManager
from plugbay._settings import load_settings, parse_settings
from tests.core.support import CANNED_CONFIG, HELLO_CONFIG, HELLO_PLUGIN, canned, make_distribution
from tests.helpers import Served, clean_env, run_cli

BROKEN_PLUGIN = """
import does_not_exist_anywhere
"""

MISSPELLED_PLUGIN = """
from plugbay import hookimpl

@hookimpl
def plugbay_register_adapter(register):
    pass
"""

BAD_SIGNATURE_PLUGIN = """
from plugbay import hookimpl

@hookimpl
def plugbay_startup(gateway, surprise):
    pass
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    make_distribution(site, "plugbay_hello", HELLO_PLUGIN, dist="plugbay-hello")
    make_distribution(site, "plugbay_second", "", dist="plugbay-second", version="0.9")
    monkeypatch.syspath_prepend(str(site))
    return site


def names(manager: PluginManager) -> list[str]:
    return [info.name for info in manager.list_plugins()]


def build(env: dict[str, str], config: dict | None = None) -> PluginManager:
    settings = parse_settings(config or {}, source="t.toml") if config is not None else None
    if settings is None:
        settings = load_settings(None, env=env)
    else:
        from plugbay._settings import apply_environment

        settings = apply_environment(settings, env)
    return PluginManager.build(settings.plugins)


def test_entry_points_are_discovered_with_distribution_and_hooks(site):
    manager = build({"PLUGBAY_PLUGINS": "hello,second"})
    infos = {info.name: info for info in manager.list_plugins()}
    assert list(infos) == ["hello", "second", "master_key", "strategies"]  # built-ins last
    hello = infos["hello"]
    assert (hello.distribution, hello.version, hello.builtin) == ("plugbay-hello", "1.2.3", False)
    assert hello.hooks == ["plugbay_register_adapters", "plugbay_register_commands"]
    assert (infos["second"].distribution, infos["second"].version) == ("plugbay-second", "0.9")
    assert infos["master_key"].builtin
    assert infos["master_key"].hooks == [
        "plugbay_register_authenticators",
        "plugbay_register_routes",
    ]


def test_allow_list_from_the_environment(site):
    assert names(build({"PLUGBAY_PLUGINS": "second"})) == ["second", "master_key", "strategies"]
    assert names(build({"PLUGBAY_PLUGINS": ""})) == ["master_key", "strategies"]  # empty: none
    assert names(build({"PLUGBAY_PLUGINS": " hello , second "})) == [
        "hello",
        "second",
        "master_key",
        "strategies",
    ]


def test_block_list_from_the_environment(site):
    env = {"PLUGBAY_PLUGINS": "hello,second", "PLUGBAY_DISABLE_PLUGINS": "hello"}
    assert names(build(env)) == ["second", "master_key", "strategies"]
    # Built-ins can be blocked by name too.
    env["PLUGBAY_DISABLE_PLUGINS"] = "hello,master_key"
    assert names(build(env)) == ["second", "strategies"]


def test_lists_from_the_config_file(site):
    assert names(build({}, {"plugins": {"enabled": ["hello"]}})) == [
        "hello",
        "master_key",
        "strategies",
    ]
    assert names(
        build({}, {"plugins": {"enabled": ["hello", "second"], "disabled": ["second"]}})
    ) == [
        "hello",
        "master_key",
        "strategies",
    ]
    # The environment's allow-list replaces the file's; its block-list adds to it.
    config = {"plugins": {"enabled": ["hello"], "disabled": ["second"]}}
    assert names(build({"PLUGBAY_PLUGINS": "second,hello"}, config)) == [
        "hello",
        "master_key",
        "strategies",
    ]
    config = {"plugins": {"enabled": ["hello", "second"]}}
    assert names(build({"PLUGBAY_DISABLE_PLUGINS": "hello"}, config)) == [
        "second",
        "master_key",
        "strategies",
    ]


def test_a_plugin_that_fails_to_import_stops_start_up(tmp_path, monkeypatch):
    site = make_distribution(tmp_path / "site", "plugbay_broken", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginLoadError) as info:
        build({"PLUGBAY_PLUGINS": "broken"})
    message = str(info.value)
    assert message.startswith('Error importing plugin "broken" (distribution plugbay-broken 1.2.3)')
    assert "does_not_exist_anywhere" in message
    # Blocked, it is never imported.
    assert names(build({"PLUGBAY_PLUGINS": "broken", "PLUGBAY_DISABLE_PLUGINS": "broken"})) == [
        "master_key",
        "strategies",
    ]


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("plugbay_typo", MISSPELLED_PLUGIN, "unknown hook 'plugbay_register_adapter'"),
        ("plugbay_badsig", BAD_SIGNATURE_PLUGIN, "surprise"),
    ],
)
def test_a_plugin_with_an_unknown_hook_is_refused_by_name(
    tmp_path, monkeypatch, module, source, expected
):
    site = make_distribution(tmp_path / "site", module, source)
    monkeypatch.syspath_prepend(str(site))
    short = module.removeprefix("plugbay_")
    with pytest.raises(PluginLoadError) as info:
        build({"PLUGBAY_PLUGINS": short})
    assert f'plugin "{short}"' in str(info.value)
    assert expected in str(info.value)


def test_explicit_plugins_skip_entry_points(site):
    manager = PluginManager.build(parse_settings({}, source="t").plugins, [canned])
    assert names(manager) == ["CannedPlugin", "master_key", "strategies"]


def test_admin_plugins_endpoint(make_client, master_key):
    gw = make_client(CANNED_CONFIG, plugins=[canned])
    response = gw.http(auth=False).get(
        "/admin/plugins", headers={"authorization": f"Bearer {master_key}"}
    )
    assert response.status_code == 200
    data = response.json()["data"]
    assert [p["name"] for p in data] == ["CannedPlugin", "master_key", "strategies"]
    assert data[0]["hooks"] == ["plugbay_register_adapters"]
    assert set(data[0]) == {"name", "distribution", "version", "hooks", "builtin"}
    assert gw.http(auth=False).get("/admin/plugins").status_code == 401


# --- the command line, as a subprocess ------------------------------------------------------------


def cli_env(site, **extra: str) -> dict[str, str]:
    return clean_env(PYTHONPATH=str(site), **extra)


@pytest.mark.slow
def test_plugbay_plugins_lists_every_plugin(site, tmp_path):
    env = cli_env(site, PLUGBAY_PLUGINS="hello,second")
    result = run_cli("plugins", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "hello  (plugbay-hello 1.2.3)",
        "    plugbay_register_adapters",
        "    plugbay_register_commands",
        "second  (plugbay-second 0.9)",
        "master_key  (built-in)",
        "    plugbay_register_authenticators",
        "    plugbay_register_routes",
        "strategies  (built-in)",
        "    plugbay_register_strategies",
    ]
    result = run_cli("plugins", "--json", cwd=tmp_path, env=env)
    listed = json.loads(result.stdout)
    assert listed[0] == {
        "name": "hello",
        "distribution": "plugbay-hello",
        "version": "1.2.3",
        "hooks": ["plugbay_register_adapters", "plugbay_register_commands"],
        "builtin": False,
    }


@pytest.mark.slow
def test_plugin_commands_join_the_cli(site, tmp_path):
    result = run_cli("hello", "world", cwd=tmp_path, env=cli_env(site, PLUGBAY_PLUGINS="hello"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello world, from a plugin\n"
    # Disabled, its command is gone.
    result = run_cli(
        "hello", "world", cwd=tmp_path, env=cli_env(site, PLUGBAY_DISABLE_PLUGINS="hello")
    )
    assert result.returncode == 2
    assert "No such command 'hello'" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", [["plugins"], ["serve", "--port", "1"]])
def test_a_broken_plugin_fails_the_cli_naming_it(tmp_path, command):
    site = make_distribution(tmp_path / "site", "plugbay_broken", BROKEN_PLUGIN)
    result = run_cli(*command, cwd=tmp_path, env=cli_env(site, PLUGBAY_PLUGINS="broken"))
    assert result.returncode == 1
    assert 'Error: Error importing plugin "broken" (distribution plugbay-broken 1.2.3)' in (
        result.stderr
    )
    assert "ModuleNotFoundError: No module named 'does_not_exist_anywhere'" in result.stderr


@pytest.mark.slow
def test_a_misspelled_hook_fails_the_cli_naming_it(tmp_path):
    site = make_distribution(tmp_path / "site", "plugbay_typo", MISSPELLED_PLUGIN)
    result = run_cli("plugins", cwd=tmp_path, env=cli_env(site, PLUGBAY_PLUGINS="typo"))
    assert result.returncode == 1
    assert 'plugin "typo"' in result.stderr
    assert "plugbay_register_adapter" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_an_installed_plugin_serves_a_model(site, tmp_path):
    (tmp_path / "plugbay.toml").write_text(HELLO_CONFIG)
    env = cli_env(site, PLUGBAY_PLUGINS="hello", PLUGBAY_MASTER_KEY="sk-test-0123456789")
    with Served(cwd=tmp_path, env=env) as served:
        served.wait_ready()
        response = httpx.post(
            served.url + "/v1/chat/completions",
            json={"model": "hello-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer sk-test-0123456789"},
        )
        assert response.json()["choices"][0]["message"]["content"] == "hello from a plugin"
        assert response.json()["model"] == "hello-model"
