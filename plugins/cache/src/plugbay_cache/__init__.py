"""plugbay-cache: an exact-match response cache (see ``cache.py`` and ``key.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl
from plugbay_cache.cache import ResponseCache, open_store
from plugbay_cache.config import load_config

if TYPE_CHECKING:
    from plugbay import CacheRegister, Settings


@hookimpl
def plugbay_register_caches(register: CacheRegister, settings: Settings) -> None:
    config = load_config(settings)
    register.cache(ResponseCache(config, open_store(settings, config)))
