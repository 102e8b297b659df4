"""plugboard-cache: an exact-match response cache (see ``cache.py`` and ``key.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard.settings import Settings
from plugboard_cache.cache import ResponseCache, open_store
from plugboard_cache.config import load_config


@hookimpl
def plugboard_register_caches(register: Callable[[Any], None], settings: Settings) -> None:
    config = load_config(settings.plugin_settings("cache"), settings.source)
    register(ResponseCache(config, open_store(settings, config)))
