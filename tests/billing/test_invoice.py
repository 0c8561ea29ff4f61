"""Invoice arithmetic against an independent oracle (exact fractions, written from the price data directly),
and per-second proration against Stripe's worked example."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from billing.invoice import draft_invoice
from billing.prices import PlanPrice, all_prices, parse_prices, price_of
from billing.proration import prorate_cents

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)


def _half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def oracle_total(price: PlanPrice, tokens: int, credit: int, tax_percent: int) -> int:
    subtotal = price.base_fee_cents
    bounds = [price.included_tokens] + [t.up_to_tokens or max(tokens, 1) for t in price.tiers]
    for tier, low, high in zip(price.tiers, bounds, bounds[1:], strict=False):
        inside = max(0, min(tokens, high) - low)
        if inside:
            subtotal += _half_up(Fraction(inside * tier.cents_per_million, 1_000_000))
    subtotal -= min(credit, subtotal)
    return subtotal + _half_up(Fraction(subtotal * tax_percent, 100))


@pytest.mark.parametrize("plan", ["free", "pro", "enterprise"])
def test_invoices_equal_the_oracle_to_the_cent(plan: str) -> None:
    rng = random.Random(plan)
    price = price_of(plan)
    for _ in range(2000):
        tokens = rng.choice([0, price.included_tokens, rng.randrange(0, 3 * 10**9)])
        credit = rng.choice([0, 0, rng.randrange(0, 200_000)])
        tax = rng.choice([0, 7, 19, 20])
        draft = draft_invoice(price, tokens=tokens, credit_cents=credit, tax_rate=Decimal(tax) / 100)
        assert draft.total_cents == oracle_total(price, tokens, credit, tax), (tokens, credit, tax)
        assert draft.subtotal_cents == sum(line.amount_cents for line in draft.lines) >= 0


def test_graduated_tiers_and_included_tokens() -> None:
    pro = price_of("pro")
    inside = draft_invoice(pro, tokens=pro.included_tokens)
    assert [line.description for line in inside.lines] == ["base fee"] and inside.total_cents == 4900
    over = draft_invoice(pro, tokens=60_000_000, tax_rate=Decimal("0.2"))
    # 45M tokens at 2.00 USD/M, then 10M at 1.50 USD/M.
    assert [line.amount_cents for line in over.lines] == [4900, 9000, 1500]
    assert over.tax_cents == 3080 and over.total_cents == 18480


def test_price_data_is_validated() -> None:
    assert set(all_prices()) == {"free", "pro", "enterprise"}
    with pytest.raises(ValueError, match="exactly the plans"):
        parse_prices('{"free": {"base_fee_cents": 0, "included_tokens": 0}}')
    with pytest.raises(ValueError):
        PlanPrice.model_validate(
            {
                "base_fee_cents": 1,
                "included_tokens": 10,
                "tiers": [{"up_to_tokens": None, "cents_per_million": 1}, {"up_to_tokens": 20, "cents_per_million": 1}],
            }
        )
    with pytest.raises(ValueError):
        draft_invoice(price_of("pro"), tokens=-1)


def test_per_second_proration() -> None:
    halfway = START + (END - START) / 2
    assert prorate_cents(1000, 2000, START, END, halfway) == 500  # Stripe's example: 10 -> 20 USD halfway nets +5
    assert prorate_cents(2000, 1000, START, END, halfway) == -500  # downgrade now: credit the unused half
    assert prorate_cents(1000, 2000, START, END, END) == 0
    assert prorate_cents(4900, 99900, START, END, START) == 95000
    one_second_left = END - timedelta(seconds=1)
    assert prorate_cents(0, 2_678_400, START, END, one_second_left) == 1  # a 31-day month: 1 cent per second
    with pytest.raises(ValueError):
        prorate_cents(1, 2, START, END, END + timedelta(seconds=1))
