from __future__ import annotations

import pytest

from plugbay._crypto import SecretBox, SecretKeyMissing
from plugbay._pricing import Price, cost, default_output_limit, default_price
from plugbay.schemas import PromptTokensDetails, Usage


def test_secrets_round_trip_and_are_bound_to_their_context():
    box = SecretBox("one key")
    sealed = box.encrypt("sk-live-123", context="openai")
    assert b"sk-live-123" not in sealed
    assert box.decrypt(sealed, context="openai") == "sk-live-123"
    assert box.encrypt("sk-live-123", context="openai") != sealed  # fresh nonce each time
    with pytest.raises(ValueError, match="cannot decrypt"):
        box.decrypt(sealed, context="anthropic")
    with pytest.raises(ValueError, match="PLUGBAY_SECRET_KEY differs"):
        SecretBox("another key").decrypt(sealed, context="openai")


def test_no_secret_key_means_no_secrets():
    box = SecretBox.from_env({})
    assert not box.available
    with pytest.raises(SecretKeyMissing, match="PLUGBAY_SECRET_KEY is not set"):
        box.encrypt("sk-live-123", context="openai")


@pytest.mark.parametrize(
    ("model", "found"),
    [
        ("gpt-4o-mini", True),
        ("gpt-4o-mini-2024-07-18", True),
        ("openai/gpt-4o", True),
        ("claude-3-5-sonnet-20241022", True),
        ("my-finetune", False),
    ],
)
def test_shipped_prices_match_dated_and_prefixed_names(model, found):
    assert (default_price(model) is not None) is found


def test_cost_counts_cached_tokens_at_their_price():
    usage = Usage(
        prompt_tokens=1000,
        completion_tokens=100,
        total_tokens=1100,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=400),
    )
    price = Price(input=2.0, output=8.0, cached_input=0.5)
    assert cost(usage, price) == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)
    assert cost(usage, Price(input=2.0, output=8.0)) == pytest.approx((1000 * 2 + 800) / 1e6)


def test_unknown_price_or_usage_costs_null_never_zero():
    usage = Usage(prompt_tokens=1, completion_tokens=1, total_tokens=2)
    assert cost(usage, None) is None
    assert cost(None, Price(input=1, output=1)) is None
    assert cost(usage, Price(input=1.0)) is None


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        ("gpt-4o", 16_384),
        ("gpt-4o-2024-08-06", 16_384),
        ("openai/gpt-4.1-mini", 32_768),
        ("claude-sonnet-4-20250514", 64_000),
        ("text-embedding-3-small", 0),
        ("my-finetune", None),
    ],
)
def test_shipped_output_limits_match_like_prices(model, limit):
    assert default_output_limit(model) == limit
