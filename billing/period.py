"""A period's invoice from its facts: the plan in force at the start and at the end, the plan changes inside
it, the period's tokens, the credit balance and the tax rate.

The rules (docs/billing.md): the base fee is the one of the plan in force when the period began; each change
made "now" prorates the fee difference per second for what is left of the period, a positive amount as a line
on this invoice, a negative one (a downgrade) as credit; credit pays lines up to the subtotal and what is left
carries to the next period; usage beyond the included tokens is priced by the plan in force at the close; usage
of an earlier period settled after that period's close comes as one line per period (`billing.late`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.invoice import InvoiceDraft, Line, draft_invoice
from billing.late import LateUsage, late_line
from billing.prices import price_of
from billing.proration import prorate_cents


@dataclass(frozen=True)
class Change:
    from_plan: str
    to_plan: str
    at: datetime


@dataclass(frozen=True)
class PeriodBill:
    draft: InvoiceDraft
    credit_used_cents: int
    credit_left_cents: int


def proration_of(change: Change, start: datetime, end: datetime) -> int:
    return prorate_cents(
        price_of(change.from_plan).base_fee_cents, price_of(change.to_plan).base_fee_cents, start, end, change.at
    )


def bill_period(
    *,
    start_plan: str,
    end_plan: str,
    start: datetime,
    end: datetime,
    tokens: int,
    changes: list[Change],
    credit_cents: int,
    tax_rate: Decimal,
    base_fee: bool = True,
    late: Sequence[LateUsage] = (),
) -> PeriodBill:
    extra: list[Line] = []
    credit = credit_cents
    for change in changes:
        amount = proration_of(change, start, end)
        if amount > 0:
            extra.append(Line(f"proration {change.from_plan} -> {change.to_plan} at {change.at.isoformat()}", amount))
        else:
            credit -= amount
    start_price = price_of(start_plan)
    end_price = price_of(end_plan)
    base = [Line("base fee", start_price.base_fee_cents)] if base_fee and start_price.base_fee_cents else []
    draft = draft_invoice(
        end_price,
        tokens=tokens,
        tax_rate=tax_rate,
        credit_cents=credit,
        extra_lines=base + extra + [late_line(x) for x in late],
        include_base_fee=False,
    )
    used = -sum(line.amount_cents for line in draft.lines if line.description == "credit applied")
    return PeriodBill(draft=draft, credit_used_cents=used, credit_left_cents=credit - used)
