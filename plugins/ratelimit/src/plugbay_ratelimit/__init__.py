"""plugbay-ratelimit: exact request, token and in-flight limits (see ``limiter.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plugbay import Settings, hookimpl
from plugbay_ratelimit.config import load_config
from plugbay_ratelimit.limiter import SlidingWindowLimiter
from plugbay_ratelimit.stores import open_store


@hookimpl
def plugbay_register_rate_limiters(register: Callable[[Any], None], settings: Settings) -> None:
    config = load_config(settings)
    register(SlidingWindowLimiter(config, open_store(settings, config)))
