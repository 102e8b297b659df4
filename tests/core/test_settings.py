"""The TOML config: every key, ``${VAR}``, and errors that name the file, the key and the fault."""

from __future__ import annotations

import textwrap

import pytest

from plugbay._settings import ConfigError, load_settings
from tests.helpers import clean_env, run_cli

FULL = """
[server]
host = "0.0.0.0"
port = 8080
workers = 3
database = "${DATA_DIR}/registry.db"
max_body_size = 1048576
log_level = "debug"
graceful_timeout = 30

[auth]
master_key = "${MASTER:-sk-default-master}"
disabled = false

[plugins]
enabled = ["openai", "echo"]
disabled = ["anthropic"]

[[providers]]
name = "openai"
type = "openai"
base_url = "https://api.openai.com/v1"
api_key = "${OPENAI_API_KEY}"
headers = { "X-Title" = "plugbay" }
timeout = 120.5
first_byte_timeout = 30
idle_timeout = 15.5
connect_timeout = 5
max_response_size = 8388608
max_connections = 50
organization = "org-1"

[[models]]
name = "gpt"
provider = "openai"
upstream_model = "gpt-4o-mini"

[[models]]
name = "plain"
provider = "openai"

[ratelimit]
default_rpm = 60
"""


def write(tmp_path, text: str, name: str = "plugbay.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_every_key(tmp_path):
    path = write(tmp_path, FULL)
    settings = load_settings(path, env={"DATA_DIR": "/var/lib/pb", "OPENAI_API_KEY": "sk-up"})
    server = settings.server
    assert (server.host, server.port, server.workers) == ("0.0.0.0", 8080, 3)
    assert server.database == "/var/lib/pb/registry.db"
    assert (server.max_body_size, server.log_level, server.graceful_timeout) == (
        1048576,
        "debug",
        30,
    )
    assert settings.auth.master_key == "sk-default-master"
    assert settings.auth.disabled is False
    assert settings.plugins.enabled == ["openai", "echo"]
    assert settings.plugins.disabled == ["anthropic"]
    (provider,) = settings.providers
    assert provider.api_key == "sk-up"
    assert provider.headers == {"X-Title": "plugbay"}
    assert (provider.timeout, provider.connect_timeout, provider.max_connections) == (120.5, 5, 50)
    assert (provider.first_byte_timeout, provider.idle_timeout) == (30, 15.5)
    assert provider.max_response_size == 8 * 1024 * 1024
    assert provider.options == {"organization": "org-1"}  # adapter keys
    assert "sk-up" not in repr(provider)
    assert [m.upstream for m in settings.models] == ["gpt-4o-mini", "plain"]
    assert settings.plugin_settings("ratelimit") == {"default_rpm": 60}
    assert settings.source == str(path)


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, env={})
    assert settings.source is None
    server = settings.server
    assert (server.host, server.port, server.workers) == ("127.0.0.1", 4000, 1)
    assert (server.database, server.max_body_size) == ("plugbay.db", 20 * 1024 * 1024)
    assert settings.auth.master_key is None
    assert settings.plugins.enabled is None


def test_plugbay_toml_in_the_working_directory_is_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "[server]\nport = 4321\n")
    settings = load_settings(None, env={})
    assert settings.source == "plugbay.toml"
    assert settings.server.port == 4321


def test_environment_overrides(tmp_path):
    path = write(tmp_path, '[auth]\nmaster_key = "from-file"\n[plugins]\ndisabled = ["a"]\n')
    env = {
        "PLUGBAY_MASTER_KEY": "from-env",
        "PLUGBAY_PLUGINS": "x,y",
        "PLUGBAY_DISABLE_PLUGINS": "b",
    }
    settings = load_settings(path, env=env)
    assert settings.auth.master_key == "from-env"
    assert settings.plugins.enabled == ["x", "y"]
    assert settings.plugins.disabled == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[server]\nport = "eighty"\n', "server.port: Expected `int`, got `str`"),
        ('[server]\nport = "4000"\n', "server.port: Expected `int`, got `str`"),
        ("[server]\nworkers = 2.0\n", "server.workers: Expected `int`, got `float`"),
        ('[auth]\ndisabled = "true"\n', "auth.disabled: Expected `bool`, got `str`"),
        (
            '[[providers]]\nname = "p"\ntype = "t"\ntimeout = "5"\n',
            "providers[0].timeout: Expected `float`, got `str`",
        ),
        ("[server]\nprot = 1\n", "server.prot: Object contains unknown field `prot`"),
        ("[server]\nworkers = 0\n", "server.workers: must be at least 1"),
        ("[server]\nmax_body_size = 0\n", "server.max_body_size: must be positive"),
        ("[auth]\nmaster_key = 5\n", "auth.master_key: Expected `str | null`, got `int`"),
        ('[plugins]\nenabled = "echo"\n', "plugins.enabled: Expected `array | null`, got `str`"),
        (
            '[[models]]\nname = "m"\n',
            "models[0]: a model needs a `provider` or `deployments`",
        ),
        (
            '[[providers]]\nname = "p"\ntype = "t"\n[[providers]]\nname = "p"\ntype = "t"\n',
            "providers[1].name: duplicate name 'p'",
        ),
        ('[[providers]]\nname = ""\ntype = "t"\n', "providers[0].name: must not be empty"),
        (
            '[[providers]]\nname = "p"\ntype = "t"\ntimeout = "slow"\n',
            "providers[0].timeout: Expected `float`, got `str`",
        ),
        (
            '[[providers]]\nname = "p"\ntype = "t"\nidle_timeout = 0\n',
            "providers[0].idle_timeout: Expected `float` > 0",
        ),
        (
            '[[providers]]\nname = "p"\ntype = "t"\nmax_response_size = -1\n',
            "providers[0].max_response_size: Expected `int` >= 1",
        ),
        (
            '[[providers]]\nname = "p"\ntype = "t"\napi_key = "${NOPE_NOT_SET}"\n',
            "providers[0].api_key: environment variable NOPE_NOT_SET is not set",
        ),
        ("port = 4000\n", "port: unknown setting (plugin settings go in a [table] of their own)"),
        ("[server\nport = 1\n", "invalid TOML: "),
    ],
)
def test_invalid_config_names_file_key_and_fault(tmp_path, text, message):
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert str(info.value).startswith(f"{path}: {message}")


def test_provider_bounds_default_to_timeout():
    from plugbay._http import UpstreamClient
    from plugbay._providers import ProviderContext
    from plugbay._settings import ProviderSettings

    plain = ProviderSettings(name="p", type="t", timeout=42)
    assert (plain.first_byte_timeout, plain.idle_timeout) == (None, None)
    assert plain.max_response_size == 64 * 1024 * 1024
    client = ProviderContext(plain, {}).http("http://127.0.0.1:1")
    assert (client.timeout, client.first_byte_timeout, client.idle_timeout) == (42, 42, 42)
    assert client.max_response_size == 64 * 1024 * 1024
    tuned = ProviderSettings(name="p", type="t", first_byte_timeout=5, idle_timeout=2)
    client = ProviderContext(tuned, {}).http("http://127.0.0.1:1")
    assert (client.timeout, client.first_byte_timeout, client.idle_timeout) == (600, 5, 2)
    assert isinstance(client, UpstreamClient)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "absent.toml", env={})
    assert str(info.value) == f"{tmp_path / 'absent.toml'}: No such file or directory"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[server]\nport = "eighty"\n', "bad.toml: server.port: Expected `int`, got `str`"),
        (
            '[[providers]]\nname = "p"\ntype = "nope"\n',
            "bad.toml: providers[0].type: no installed plugin provides the adapter type 'nope'",
        ),
        (
            '[[models]]\nname = "m"\nprovider = "ghost"\n',
            "bad.toml: models[0].provider: no provider named 'ghost' in this file",
        ),
    ],
)
def test_the_cli_reports_a_bad_config_without_a_traceback(tmp_path, text, expected):
    write(tmp_path, text, "bad.toml")
    result = run_cli(
        "serve",
        "--config",
        "bad.toml",
        cwd=tmp_path,
        env=clean_env(PLUGBAY_PLUGINS=""),
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {expected}")
    assert "Traceback" not in result.stderr + result.stdout


def test_environment_variables_fill_number_fields(tmp_path):
    path = tmp_path / "plugbay.toml"
    path.write_text(
        '[server]\nport = "${PORT}"\nworkers = "${WORKERS:-2}"\n'
        '[auth]\ndisabled = "${OPEN:-false}"\n'
        '[[providers]]\nname = "p"\ntype = "t"\ntimeout = "${T}"\napi_key = "${K}"\n'
        'region = "${K}"\n[house]\nlimit = "${PORT}"\n'
    )
    settings = load_settings(path, env={"PORT": "4100", "T": "2.5", "K": "1234"})
    assert (settings.server.port, settings.server.workers) == (4100, 2)
    assert settings.auth.disabled is False
    provider = settings.providers[0]
    assert (provider.timeout, provider.api_key, provider.options) == (
        2.5,
        "1234",
        {"region": "1234"},
    )
    assert settings.extra == {"house": {"limit": "4100"}}
    # filled values are plain strings: they encode, as the registry stores them
    for value in (provider.api_key, provider.options["region"], settings.extra["house"]["limit"]):
        assert type(value) is str
    with pytest.raises(ConfigError, match=r"server\.port: Expected `int`, got `str`"):
        load_settings(path, env={"PORT": "four thousand", "T": "1", "K": "x"})


def test_a_table_no_plugin_reads_is_reported(make_client, caplog):
    with caplog.at_level("WARNING", logger="plugbay"):
        make_client({"sever": {"port": 1}}, plugins=[])
    assert "[sever] names no loaded plugin" in caplog.text


@pytest.mark.parametrize("factory", ["make_client", "make_gateway"])
def test_a_config_error_surfaces_from_the_fixture_as_itself(request, factory):
    from plugbay import ConfigError
    from tests.core.support import canned

    make = request.getfixturevalue(factory)
    config = {
        "providers": [{"name": "c", "type": "canned", "txt": "typo"}],
        "models": [{"name": "canned", "provider": "c"}],
    }
    with pytest.raises(ConfigError) as info:
        make(config, plugins=[canned])
    assert str(info.value) == "test config: providers[0].txt: Object contains unknown field `txt`"
