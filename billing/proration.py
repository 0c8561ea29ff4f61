"""Per-second proration of a plan change inside a billing period, as Stripe Billing does it.

Changing from a fee of `old` to `new` at `at` charges (or credits, when negative) the difference for the
seconds left in the period: moving from 10 to 20 USD halfway through nets +5 USD. A downgrade now credits the
unused part of the old fee; a change at period end prorates nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.invoice import cents


def prorate_cents(old_fee_cents: int, new_fee_cents: int, start: datetime, end: datetime, at: datetime) -> int:
    if not start <= at <= end or start >= end:
        raise ValueError("the change must fall inside a non-empty period")
    total = int((end - start).total_seconds())
    left = int((end - at).total_seconds())
    return cents(Decimal(new_fee_cents - old_fee_cents) * Decimal(left) / Decimal(total))
