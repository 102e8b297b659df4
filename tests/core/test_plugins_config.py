"""``Settings.plugin_config``: a plugin's table validated like the core's own."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from plugbay import ConfigError, Settings
from plugbay._settings import load_settings


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    ttl: float | None = None


class CacheLike(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max_entries: int = 10
    ttl: float = 1.0
    enabled: bool = False
    backend: str = "memory"
    models: dict[str, Model] = msgspec.field(default_factory=dict)


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "plugbay.toml"
    path.write_text(text)
    return load_settings(path, env=env or {})


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('max_entries = "many"', "cache.max_entries: Expected `int`, got `str`"),
        ('max_entries = "5"', "cache.max_entries: Expected `int`, got `str`"),  # strict
        ("enabled = 1", "cache.enabled: Expected `bool`, got `int`"),
        ("typo = 1", "cache.typo: Object contains unknown field `typo`"),
        (
            '[cache.models.m]\nttl = "x"',
            "cache.models.m.ttl: Expected `float | null`, got `str`",
        ),
    ],
)
def test_errors_name_the_key_as_the_core_does(tmp_path, table, message):
    settings = load(tmp_path, f"[cache]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        settings.plugin_config("cache", CacheLike)
    assert str(info.value) == f"{tmp_path / 'plugbay.toml'}: {message}"
    assert info.value.key == message.split(":", 1)[0]


def test_variables_fill_strings_numbers_and_booleans(tmp_path):
    settings = load(
        tmp_path,
        '[cache]\nmax_entries = "${N}"\nttl = "${T:-2.5}"\nenabled = "${ON}"\n'
        'backend = "${B}"\n[cache.models.m]\nttl = "${N}"\n',
        env={"N": "42", "ON": "true", "B": "redis"},
    )
    config = settings.plugin_config("cache", CacheLike)
    assert (config.max_entries, config.ttl, config.enabled, config.backend) == (
        42,
        2.5,
        True,
        "redis",
    )
    assert config.models["m"].ttl == 42.0
    # the table itself keeps plain strings; converting twice gives the same answer
    assert settings.plugin_settings("cache")["max_entries"] == "42"
    assert settings.plugin_config("cache", CacheLike) == config


def test_a_filled_value_of_the_wrong_kind_is_still_an_error(tmp_path):
    settings = load(tmp_path, '[cache]\nmax_entries = "${N}"\n', env={"N": "lots"})
    with pytest.raises(ConfigError, match=r"cache\.max_entries: Expected `int`, got `str`"):
        settings.plugin_config("cache", CacheLike)


def test_the_failing_key_of_a_dict_is_named(tmp_path):
    settings = load(
        tmp_path,
        '[cache.models.a]\nttl = 1\n[cache.models."gpt-4.1"]\nttl = "soon"\n'
        '[cache.models.c]\nttl = "${T}"\n',
        env={"T": "3"},
    )
    with pytest.raises(ConfigError) as info:
        settings.plugin_config("cache", CacheLike)
    assert info.value.key == "cache.models.gpt-4.1.ttl"

    class Nested(msgspec.Struct):
        groups: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)

    settings = load(
        tmp_path, '[n.groups.a]\nx = 1\n[n.groups.b]\ny = 2\nz = "3"\n[n.groups.c]\nw = "4"\n'
    )
    with pytest.raises(ConfigError) as info:
        settings.plugin_config("n", Nested)
    assert info.value.key == "n.groups.b.z"


def test_a_missing_table_is_an_empty_one():
    assert Settings().plugin_config("cache", CacheLike) == CacheLike()
