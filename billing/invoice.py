"""An invoice from a period's usage: base fee, included tokens, graduated overage, credits and tax.

Exact to the cent: every line is computed in `Decimal` and rounded half-up to whole cents once, the subtotal
is the sum of the rounded lines, credits never take it below zero, and the tax is the rounded product of the
subtotal and the rate. Proration lines (`billing.proration`) come in as ready amounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from billing.prices import PlanPrice

_MILLION = Decimal(1_000_000)


def cents(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Line:
    description: str
    amount_cents: int
    quantity: int = 1


@dataclass(frozen=True)
class InvoiceDraft:
    lines: list[Line] = field(default_factory=list)
    subtotal_cents: int = 0
    tax_cents: int = 0

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents


def overage_lines(price: PlanPrice, tokens: int) -> list[Line]:
    """One line per tier the period's tokens reach beyond the included ones."""
    lines: list[Line] = []
    lower = price.included_tokens
    for tier in price.tiers:
        upper = tokens if tier.up_to_tokens is None else min(tokens, tier.up_to_tokens)
        if upper <= lower:
            break
        quantity = upper - lower
        amount = cents(Decimal(quantity) * Decimal(tier.cents_per_million) / _MILLION)
        bound = "" if tier.up_to_tokens is None else f" up to {tier.up_to_tokens:,}"
        lines.append(Line(f"tokens over {lower:,}{bound}", amount, quantity))
        lower = upper
    return lines


def draft_invoice(
    price: PlanPrice,
    *,
    tokens: int,
    tax_rate: Decimal = Decimal(0),
    credit_cents: int = 0,
    extra_lines: list[Line] | None = None,
    include_base_fee: bool = True,
) -> InvoiceDraft:
    if tokens < 0 or credit_cents < 0 or not Decimal(0) <= tax_rate < Decimal(1):
        raise ValueError("tokens and credits must not be negative, and the tax rate must be in [0, 1)")
    lines: list[Line] = []
    if include_base_fee and price.base_fee_cents:
        lines.append(Line("base fee", price.base_fee_cents))
    lines.extend(overage_lines(price, tokens))
    lines.extend(extra_lines or [])
    subtotal = sum(line.amount_cents for line in lines)
    applied = min(credit_cents, max(subtotal, 0))
    if applied:
        lines.append(Line("credit applied", -applied))
        subtotal -= applied
    return InvoiceDraft(lines=lines, subtotal_cents=subtotal, tax_cents=cents(Decimal(subtotal) * tax_rate))
