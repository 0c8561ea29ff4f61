"""An independent oracle for a period's invoice: exact fractions straight from `billing/data/prices.json`,
written apart from `billing.invoice`/`billing.period` so that both would have to be wrong the same way.
Used by the workflow tests and by `python -m benchmarks billing_year`.
"""

from __future__ import annotations

import calendar
import json
import math
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

PRICES = json.loads((Path(__file__).resolve().parents[2] / "billing" / "data" / "prices.json").read_text())


def half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2)) if x >= 0 else -math.floor(-x + Fraction(1, 2))


def oracle_overage(plan_name: str, tokens: int) -> int:
    """Cents for `tokens` beyond the plan's included ones, tier by tier, each tier rounded half-up."""
    plan = PRICES[plan_name]
    cents, low = 0, plan["included_tokens"]
    for tier in plan["tiers"]:
        high = tokens if tier["up_to_tokens"] is None else min(tokens, tier["up_to_tokens"])
        if high > low:
            cents += half_up(Fraction((high - low) * tier["cents_per_million"], 1_000_000))
            low = high
    return cents


@dataclass(frozen=True)
class OracleLate:
    """Tokens of an earlier period settled after its close: its invoice's plan and what it had billed."""

    plan: str
    billed: int
    tokens: int


@dataclass(frozen=True)
class OracleChange:
    old: str
    new: str
    at: datetime


def oracle_total(
    *,
    start_plan: str,
    end_plan: str,
    start: datetime,
    end: datetime,
    tokens: int,
    changes: list[OracleChange],
    credit: int,
    tax: Fraction,
    late: tuple[OracleLate, ...] = (),
) -> tuple[int, int]:
    """(total in cents, credit left) for the period."""
    subtotal = PRICES[start_plan]["base_fee_cents"]
    seconds = int((end - start).total_seconds())
    for change in changes:
        left = int((end - change.at).total_seconds())
        diff = PRICES[change.new]["base_fee_cents"] - PRICES[change.old]["base_fee_cents"]
        amount = half_up(Fraction(diff * left, seconds))
        if amount > 0:
            subtotal += amount
        else:
            credit -= amount
    subtotal += oracle_overage(end_plan, tokens)
    for x in late:
        subtotal += oracle_overage(x.plan, x.billed + x.tokens) - oracle_overage(x.plan, x.billed)
    used = min(credit, max(subtotal, 0))
    subtotal -= used
    return subtotal + half_up(subtotal * tax), credit - used


def oracle_period_ends(first_start: datetime, periods: int) -> list[datetime]:
    """The ends of a subscription's first `periods` periods, counted in months from its anchor (the first
    period's start), each on the anchor's day or its month's last day: by month arithmetic from the start,
    never from the previous end, so a clamped month leaves no trace on the next."""
    ends = []
    for k in range(1, periods + 1):
        index = first_start.month - 1 + k
        year, month = first_start.year + index // 12, index % 12 + 1
        day = min(first_start.day, calendar.monthrange(year, month)[1])
        ends.append(first_start.replace(year=year, month=month, day=day))
    return ends
