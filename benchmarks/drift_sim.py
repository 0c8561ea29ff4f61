"""A simulated platform for the drift benchmark and tests: tenants' turns day by day, with shifts injected.

Each tenant has one or two agents on a cheap and a dear model (five times the price per token), a daily
volume between `min_turns` and `max_turns`, a weekly rhythm and day-to-day wobble that is real but no drift
(volume +-15 %, tokens per turn and latency +-2 %, error and tool-failure rates +-20 % of themselves). A shift
starts on a day and stays:

- `latency`: every turn of the tenant 10 % slower (its p50 and p95 +10 %);
- `mix`: turns move to the dear model until a turn costs 15 % more;
- `price`: the dear model's provider raises its price per token by 10 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from policies.drift.facts import TurnFact

CHEAP, DEAR = "cheap-model", "dear-model"
PRICE_PER_1K = {CHEAP: 0.0006, DEAR: 0.003}
KINDS = ("latency", "mix", "price")
LATENCY_SHIFT = 1.10
COST_SHIFT = 1.15
PRICE_SHIFT = 1.10


@dataclass(frozen=True)
class Shift:
    tenant: int
    day: int
    kind: str


@dataclass
class Tenant:
    index: int
    agents: tuple[str, ...]
    turns_per_day: float
    dear_share: float
    tool_rate: float
    shifts: list[Shift] = field(default_factory=list)

    def shift_on(self, day: int, kind: str) -> bool:
        return any(s.kind == kind and s.day <= day for s in self.shifts)


def shifted_share(share: float) -> float:
    """The dear model's share at which a turn costs COST_SHIFT times as much (tokens being equal)."""
    ratio = PRICE_PER_1K[DEAR] / PRICE_PER_1K[CHEAP]
    return ((COST_SHIFT * (1 + (ratio - 1) * share)) - 1) / (ratio - 1)


def make_tenants(
    rng: np.random.Generator, n: int, *, min_turns: int, max_turns: int, shifts: int, first_day: int, last_day: int
) -> list[Tenant]:
    tenants = [
        Tenant(
            index=i,
            agents=("support",) if rng.random() < 0.5 else ("support", "sales"),
            turns_per_day=float(math.exp(rng.uniform(math.log(min_turns), math.log(max_turns)))),
            dear_share=float(rng.uniform(0.1, 0.3)),
            tool_rate=float(rng.uniform(0.3, 1.0)),
        )
        for i in range(n)
    ]
    for k, who in enumerate(rng.choice(n, size=shifts, replace=False)):
        day = int(rng.integers(first_day, last_day + 1))
        tenants[int(who)].shifts.append(Shift(int(who), day, KINDS[k % len(KINDS)]))
    return tenants


def day_of(rng: np.random.Generator, tenant: Tenant, day: int) -> list[TurnFact]:
    """One tenant's turns of one day (`rng` seeded per tenant and day by the caller)."""
    weekly = 0.7 if day % 7 in (5, 6) else 1.0
    n = int(rng.poisson(tenant.turns_per_day * weekly * rng.lognormal(0, 0.15)))
    share = shifted_share(tenant.dear_share) if tenant.shift_on(day, "mix") else tenant.dear_share
    dear = rng.random(n) < share
    tokens = np.maximum(1, rng.lognormal(math.log(1500) + rng.normal(0, 0.02), 0.5, n)).astype(int)
    price = np.where(
        dear, PRICE_PER_1K[DEAR] * (PRICE_SHIFT if tenant.shift_on(day, "price") else 1), PRICE_PER_1K[CHEAP]
    )
    calls = rng.poisson(tenant.tool_rate, n)
    cost = tokens * price / 1000 + calls * 0.0002
    scale = rng.lognormal(0, 0.02) * (LATENCY_SHIFT if tenant.shift_on(day, "latency") else 1.0)
    latency = np.where(dear, 2500.0, 1200.0) * rng.lognormal(0, 0.45, n) * scale
    failed = rng.random(n) < 0.01 * rng.lognormal(0, 0.2)
    tool_failures = rng.binomial(calls, min(0.03 * rng.lognormal(0, 0.2), 1.0))
    agents = rng.integers(0, len(tenant.agents), n)
    return [
        TurnFact(
            agent=tenant.agents[int(agents[i])],
            model=DEAR if dear[i] else CHEAP,
            cost_usd=float(cost[i]),
            tokens=int(tokens[i]),
            latency_ms=None if failed[i] else float(latency[i]),
            failed=bool(failed[i]),
            tool_calls=int(calls[i]),
            tool_failures=int(tool_failures[i]),
            day=day,
        )
        for i in range(n)
    ]


def day_rng(seed: int, tenant: int, day: int) -> np.random.Generator:
    return np.random.default_rng([seed, tenant, day])
