from __future__ import annotations

import pytest

import plugbay.testing.fake
import plugbay_keys

CONFIG = {
    "providers": [{"name": "f", "type": "fake", "reply": "ok"}],
    "models": [
        {"name": "small", "provider": "f", "price": {"input": 1.0, "output": 2.0}},
        {"name": "big", "provider": "f"},
        {"name": "team/alpha", "provider": "f"},
    ],
}


@pytest.fixture
def gw(make_gateway):
    return make_gateway(CONFIG, plugins=[plugbay.testing.fake, plugbay_keys])
