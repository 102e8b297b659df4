"""plugbay-ratelimit: exact request, token and in-flight limits (see ``limiter.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugbay import hookimpl
from plugbay_ratelimit.config import load_config
from plugbay_ratelimit.limiter import SlidingWindowLimiter
from plugbay_ratelimit.stores import open_store

if TYPE_CHECKING:
    from plugbay import RateLimiterRegister, Settings


@hookimpl
def plugbay_register_rate_limiters(register: RateLimiterRegister, settings: Settings) -> None:
    config = load_config(settings)
    register.rate_limiter(SlidingWindowLimiter(config, open_store(settings, config)))
