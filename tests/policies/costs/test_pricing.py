"""Prices: overrides from the bundled file and from settings, litellm's table, the default for the unknown."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.settings import Settings
from policies.pricing import OTHER_MODEL, Price, Pricing, estimate_tokens, load_bundled


def _settings(**values: object) -> Settings:
    return Settings().model_copy(update=values)


def test_bundled_patterns_price_the_scripted_and_local_models() -> None:
    pricing = Pricing.from_settings(_settings())
    # scripted/*: $10 in, $30 out per million tokens.
    assert pricing.cost("scripted/echo", 1000, 100) == Decimal("0.013000")
    assert pricing.price("scripted/slow-echo").source == "pattern:scripted/*"
    assert pricing.cost("local/smollm2", 1_000_000, 500_000) == Decimal("2.000000")
    assert pricing.cost("scripted/echo", 3, 1) > 0


def test_settings_override_wins_over_the_bundled_file_and_litellm() -> None:
    prices = {
        "scripted/echo": {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
        "gpt-4o-mini": {"input_usd_per_mtok": "100", "output_usd_per_mtok": "200"},
    }
    pricing = Pricing.from_settings(_settings(model_prices=json.dumps(prices)))
    assert pricing.cost("scripted/echo", 1_000_000, 1_000_000) == Decimal("3.000000")
    assert pricing.cost("scripted/flaky-echo", 1_000_000, 0) == Decimal("10.000000")  # still the pattern
    assert pricing.cost("gpt-4o-mini", 1000, 0) == Decimal("0.100000")


def test_litellm_prices_known_models_with_and_without_provider_prefix() -> None:
    pricing = Pricing.from_settings(_settings())
    price = pricing.price("gpt-4o-mini")
    assert price.source == "litellm"
    assert price.input_per_token > 0 and price.output_per_token > price.input_per_token
    assert pricing.price("openai/gpt-4o-mini") == price
    assert pricing.cost("gpt-4o-mini", 1000, 500) == (
        price.input_per_token * 1000 + price.output_per_token * 500
    ).quantize(Decimal("0.000001"))


@pytest.mark.parametrize("model", ["no-such-model-xyz", "anthropic/not-a-model", "", "scripted", "local"])
def test_unknown_models_cost_the_configured_default_and_never_raise(model: str) -> None:
    pricing = Pricing.from_settings(_settings(default_input_usd_per_mtok=4, default_output_usd_per_mtok=8))
    assert pricing.price(model).source == "default"
    assert pricing.cost(model, 1_000_000, 1_000_000) == Decimal("12.000000")


def test_estimate_counts_the_longest_answer_and_clamps_negative_usage() -> None:
    pricing = Pricing({}, default=Price.per_million(1, 3, "default"), use_litellm=False)
    assert pricing.estimate("m", 1000, 1000) == Decimal("0.004000")
    assert pricing.cost("m", -5, -5) == Decimal(0)
    assert estimate_tokens(["abcd" * 10, "xy"]) == 11


def test_longer_patterns_win_and_exact_names_win_over_patterns() -> None:
    pricing = Pricing(
        {
            "acme/*": Price.per_million(1, 1, "override"),
            "acme/big-*": Price.per_million(5, 5, "override"),
            "acme/big-exact": Price.per_million(9, 9, "override"),
        },
        default=Price.per_million(0, 0, "default"),
        use_litellm=False,
    )
    assert pricing.cost("acme/small", 1_000_000, 0) == Decimal(1)
    assert pricing.cost("acme/big-one", 1_000_000, 0) == Decimal(5)
    assert pricing.cost("acme/big-exact", 1_000_000, 0) == Decimal(9)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"m": {"input_usd_per_mtok": 1}}',
        '{"m": {"input_usd_per_mtok": -1, "output_usd_per_mtok": 1}}',
        '{"m": {"input_usd_per_mtok": "NaN", "output_usd_per_mtok": 1}}',
        '{"m": 3}',
    ],
)
def test_malformed_price_configuration_is_refused_at_startup(raw: str) -> None:
    with pytest.raises(ValueError):
        Pricing.from_settings(_settings(model_prices=raw))


def test_metric_labels_are_bounded_to_configured_models() -> None:
    pricing = Pricing.from_settings(_settings(model_small="gpt-4o-mini", agent_models=json.dumps({"orders": "gpt-4o"})))
    assert pricing.metric_label("gpt-4o-mini") == "gpt-4o-mini"
    assert pricing.metric_label("gpt-4o") == "gpt-4o"
    assert pricing.metric_label("scripted/echo") == "scripted/*"
    assert pricing.metric_label("some-customer-supplied-name") == OTHER_MODEL


def test_the_bundled_file_prices_every_built_in_model() -> None:
    bundled = load_bundled()
    assert {"scripted/*", "local/*"} <= set(bundled)
    assert all(p.input_per_token > 0 and p.output_per_token > 0 for p in bundled.values())
