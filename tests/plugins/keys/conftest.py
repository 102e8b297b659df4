from __future__ import annotations

import pytest

import plugboard.testing.fake
import plugboard_keys

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
    return make_gateway(CONFIG, plugins=[plugboard.testing.fake, plugboard_keys])
