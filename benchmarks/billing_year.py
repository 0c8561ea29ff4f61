"""A simulated year of invoices, checked against an independent oracle, and the cost of a month-end close.

Each tenant gets twelve monthly periods with random token usage (sometimes none, sometimes far over every
tier), random mid-period plan changes (prorated per second), random credits and a tax rate. Every invoice
from `billing.invoice` is compared with an oracle that computes the same bill with exact fractions straight
from the price data. Then the month-end close of `--close-tenants` tenants is
timed against a baseline in the same run: the bare loop that only sums each tenant's usage.

This measures the billing arithmetic only: the subscription workflow, its database writes and payments are
not part of it.

    python -m benchmarks billing_year --tenants 200 --close-tenants 1000
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from billing.invoice import Line, draft_invoice
from billing.prices import PlanPrice, all_prices
from billing.proration import prorate_cents

PLANS = ("free", "pro", "enterprise")
TAX = (Decimal(0), Decimal("0.07"), Decimal("0.19"), Decimal("0.2"))


def _half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def oracle(price: PlanPrice, tokens: int, credit: int, tax: Decimal, proration: int) -> int:
    subtotal = price.base_fee_cents + proration
    low = price.included_tokens
    for tier in price.tiers:
        high = tokens if tier.up_to_tokens is None else min(tokens, tier.up_to_tokens)
        if high > low:
            subtotal += _half_up(Fraction(high - low) * tier.cents_per_million / 1_000_000)
            low = high
    subtotal -= min(credit, max(subtotal, 0))
    return subtotal + _half_up(subtotal * Fraction(tax))


def _month(year: int, month: int) -> datetime:
    return datetime(year + (month - 1) // 12, (month - 1) % 12 + 1, 1, tzinfo=UTC)


def simulate(tenants: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    prices = all_prices()
    stats = {"invoices": 0, "mismatches": 0, "plan_changes": 0}
    for _ in range(tenants):
        plan, tax = rng.choice(PLANS), rng.choice(TAX)
        for m in range(1, 13):
            start, end = _month(2026, m), _month(2026, m + 1)
            proration = 0
            if rng.random() < 0.15:
                new = rng.choice([p for p in PLANS if p != plan])
                at = start + (end - start) * rng.random()
                at = at.replace(microsecond=0)
                proration = prorate_cents(prices[plan].base_fee_cents, prices[new].base_fee_cents, start, end, at)
                plan = new
                stats["plan_changes"] += 1
            price = prices[plan]
            tokens = rng.choice([0, price.included_tokens, rng.randrange(0, 3 * 10**9)])
            credit = rng.choice([0, 0, 0, rng.randrange(0, 50_000)])
            extra = [Line("proration", proration)] if proration else []
            draft = draft_invoice(price, tokens=tokens, tax_rate=tax, credit_cents=credit, extra_lines=extra)
            if draft.total_cents != oracle(price, tokens, credit, tax, proration):
                stats["mismatches"] += 1
            stats["invoices"] += 1
    return stats


def close_month(tenants: int, seed: int, *, arithmetic: bool) -> float:
    rng = random.Random(seed)
    prices = all_prices()
    usage = [(rng.choice(PLANS), [rng.randrange(0, 10**6) for _ in range(50)]) for _ in range(tenants)]
    started = time.perf_counter()
    total = 0
    for plan, steps in usage:
        tokens = sum(steps)
        total += (
            draft_invoice(prices[plan], tokens=tokens, tax_rate=Decimal("0.19")).total_cents if arithmetic else tokens
        )
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks billing_year", description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--close-tenants", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    stats = simulate(args.tenants, args.seed)
    year = time.perf_counter() - started
    print(f"simulated year: {args.tenants} tenants, {stats['invoices']} invoices, {stats['plan_changes']} plan changes")
    print(f"  mismatches against the oracle: {stats['mismatches']}   ({year:.2f} s)")
    baseline = min(close_month(args.close_tenants, args.seed, arithmetic=False) for _ in range(5))
    measured = min(close_month(args.close_tenants, args.seed, arithmetic=True) for _ in range(5))
    print(
        f"month-end close arithmetic, {args.close_tenants} tenants: {measured * 1000:.1f} ms "
        f"(baseline, summing usage only: {baseline * 1000:.1f} ms; ratio {measured / max(baseline, 1e-9):.1f}x)"
    )
    return 0 if stats["mismatches"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
