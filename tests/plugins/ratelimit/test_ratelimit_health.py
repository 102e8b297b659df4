"""The rate limiter in ``GET /health/detailed``: its store reports itself."""

from __future__ import annotations

import httpx

from plugbay.testing.gateway import MASTER_KEY


def test_the_limiter_reports_its_store(limited_gateway):
    gw = limited_gateway()
    response = httpx.get(
        gw.url + "/health/detailed",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )
    [limiter] = response.json()["components"]
    assert limiter["component"] == "plugbay_ratelimit.limiter.SlidingWindowLimiter"
    assert limiter["status"] == "ok"
    assert limiter["store"]
