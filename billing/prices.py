"""Plan prices, kept as data (`billing/data/prices.json`) beside the plan limits of `tenancy/data/plans.json`.

A plan costs a base fee per period and includes some tokens; tokens beyond that are charged by graduated
tiers (each tier's price applies to the tokens inside it), in cents per million tokens. Read once per
process and validated: a plan without a price, or tiers out of order, stops the process at start.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator

from contracts.base import Frozen
from tenancy.plans import PLANS

PRICES_FILE = Path(__file__).resolve().parent / "data" / "prices.json"


class Tier(Frozen):
    # Counted in total tokens of the period (included ones too); None: no upper bound (the last tier).
    up_to_tokens: int | None = Field(default=None, gt=0)
    cents_per_million: int = Field(ge=0)


class PlanPrice(Frozen):
    base_fee_cents: int = Field(ge=0)
    included_tokens: int = Field(ge=0)
    tiers: list[Tier] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> PlanPrice:
        bounds = [t.up_to_tokens for t in self.tiers]
        if any(b is None for b in bounds[:-1]):
            raise ValueError("only the last tier may be unbounded")
        finite = [b for b in bounds if b is not None]
        if finite != sorted(set(finite)) or (finite and finite[0] <= self.included_tokens):
            raise ValueError("tier bounds must rise and start above the included tokens")
        return self


def parse_prices(raw: str) -> dict[str, PlanPrice]:
    data = json.loads(raw)
    if not isinstance(data, dict) or set(data) != set(PLANS):
        raise ValueError(f"prices file must price exactly the plans {', '.join(PLANS)}")
    return {name: PlanPrice.model_validate(price) for name, price in data.items()}


@lru_cache(maxsize=1)
def all_prices() -> dict[str, PlanPrice]:
    return parse_prices(PRICES_FILE.read_text())


def price_of(plan: str) -> PlanPrice:
    prices = all_prices()
    if plan not in prices:
        raise ValueError(f"unknown plan {plan!r}")
    return prices[plan]
