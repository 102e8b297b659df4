"""plugbay-cache: an exact-match response cache (see ``cache.py`` and ``key.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import Settings, hookimpl
from plugbay_cache.cache import ResponseCache, open_store
from plugbay_cache.config import load_config


@hookimpl
def plugbay_register_caches(register: Callable[[Any], None], settings: Settings) -> None:
    config = load_config(settings)
    register(ResponseCache(config, open_store(settings, config)))
