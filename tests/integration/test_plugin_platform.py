"""The first-party plugins on the platform's public API, with every plugin installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugbay import ConfigError, Settings
from plugbay._settings import load_settings


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "plugbay.toml"
    path.write_text(text)
    return load_settings(path, env=env or {})


def test_the_first_party_loaders_use_it(tmp_path):
    from plugbay_cache.config import load_config as cache_config
    from plugbay_ratelimit.config import load_config as ratelimit_config
    from plugbay_redis.config import load_config as redis_config

    settings = load(
        tmp_path,
        '[cache]\nmax_entries = "${N}"\n[ratelimit]\nslots = "${N}"\n'
        '[redis]\nurl = "redis://x"\ntimeout = "${N}"\n',
        env={"N": "128"},
    )
    assert cache_config(settings).max_entries == 128
    assert ratelimit_config(settings).slots == 128
    assert redis_config(settings).timeout == 128.0
    for table, loader in (
        ("cache", cache_config),
        ("ratelimit", ratelimit_config),
        ("redis", redis_config),
    ):
        bad = load(tmp_path, f'[{table}]\nurl = "redis://x"\nmax_entries = []\nslots = "s"\n')
        with pytest.raises(ConfigError) as info:
            loader(bad)
        assert info.value.key is not None
        assert info.value.key.startswith(f"{table}.")
