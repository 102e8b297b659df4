"""plugboard-ratelimit: exact request, token and in-flight limits (see ``limiter.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugboard import hookimpl
from plugboard.settings import Settings
from plugboard_ratelimit.config import load_config
from plugboard_ratelimit.limiter import SlidingWindowLimiter
from plugboard_ratelimit.stores import open_store


@hookimpl
def plugboard_register_rate_limiters(register: Callable[[Any], None], settings: Settings) -> None:
    config = load_config(settings.plugin_settings("ratelimit"), settings.source)
    register(SlidingWindowLimiter(config, open_store(settings, config)))
