"""Usage settled after the close of its period: billed once, on the next invoice, as its own line.

A ledger row's `settled_at` is the start of the transaction that settled it, so a settle that commits after a
period's close has read the ledger can still be dated inside that period. The close marks every row it bills
(`usage_ledger.billed_invoice_id`, in the invoice's transaction), and the next close bills the rows that are
dated in an invoiced period but were not marked: that is late usage.

Late tokens are priced as if they had arrived on time: on top of what that period has billed already, through
the tiers of the plan its invoice used. The line is the difference of the period's overage with and without
them, so however the period's tokens are split between its own invoice and later ones, their lines add up to
exactly the cents one on-time invoice would have charged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.invoice import Line, overage_lines
from billing.prices import price_of


@dataclass(frozen=True)
class LateUsage:
    """Tokens settled late for one closed period, and what that period had billed before them."""

    period_start: datetime
    period_end: datetime
    plan: str
    billed_tokens: int
    tokens: int


def overage_cents(plan: str, tokens: int) -> int:
    return sum(line.amount_cents for line in overage_lines(price_of(plan), tokens))


def late_line(late: LateUsage) -> Line:
    if late.tokens <= 0 or late.billed_tokens < 0:
        raise ValueError("late tokens must be positive and billed tokens not negative")
    amount = overage_cents(late.plan, late.billed_tokens + late.tokens) - overage_cents(late.plan, late.billed_tokens)
    period = f"{late.period_start:%Y-%m-%d} to {late.period_end:%Y-%m-%d}"
    return Line(f"usage settled after the close of period {period}", amount, late.tokens)
