"""Plans and their limits, kept as data (`tenancy/data/plans.json`) so changing a limit is not a code change.

The names are fixed by the schema (`ck_tenants_plan`); the numbers are read once per process and validated,
so a typo in the file stops the process at start instead of admitting traffic against a wrong limit.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field

from contracts.base import Frozen

# Fixed by the schema (`ck_tenants_plan`): adding a plan takes a migration as well as an entry in the file.
PLANS = ("free", "pro", "enterprise")
PLANS_FILE = Path(__file__).resolve().parent / "data" / "plans.json"


class RouteClass(StrEnum):
    """What a request costs the platform, which decides the bucket it draws from."""

    # Starting work: a message POST or a new conversation.
    MESSAGES = "messages"
    # GETs and event streams.
    READ = "read"
    # Everything else under /v1: keys, members, settings.
    MANAGE = "manage"


class ClassRate(Frozen):
    per_minute: int = Field(gt=0)
    burst: int = Field(gt=0)


class PlanLimits(Frozen):
    # The plan's general request rate, for every route class without its own entry in `rate_limits`.
    requests_per_minute: int = Field(gt=0)
    burst: int = Field(gt=0)
    rate_limits: dict[RouteClass, ClassRate] = Field(default_factory=dict)
    # One API key (or token subject) may use this share of its tenant's rate, so a runaway integration
    # leaves room for the tenant's other keys.
    key_rate_share: float = Field(default=1.0, gt=0, le=1)
    monthly_messages: int = Field(gt=0)
    monthly_tokens: int = Field(gt=0)
    concurrent_turns: int = Field(gt=0)
    # Temporal task-queue priority (1 is served first) and fairness weight for this plan's tenants.
    queue_priority: int = Field(ge=1, le=5)
    fairness_weight: float = Field(gt=0)
    # How long a message may wait for a free concurrent-turn slot before it is refused (0: refuse at once).
    concurrency_wait_seconds: float = Field(default=0.0, ge=0, le=60)
    # Under overload, plans are shed in rank order: rank 1 first, the highest rank last.
    shed_rank: int = Field(default=1, ge=1, le=10)
    # Workflow starts a tenant may ask of the engine (every turn is an update-with-start), across gateways:
    # `policies.start_rate`. Settings may override it per plan (`AIAAS_START_RATES`).
    start_rate: ClassRate = Field(default_factory=lambda: ClassRate(per_minute=600, burst=100))

    def rate_for(self, route_class: RouteClass) -> ClassRate:
        """The tenant-wide rate of `route_class`."""
        return self.rate_limits.get(route_class) or ClassRate(per_minute=self.requests_per_minute, burst=self.burst)

    def key_rate_for(self, route_class: RouteClass) -> ClassRate:
        """The rate one key (or token subject) may use within its tenant's rate of `route_class`."""
        rate = self.rate_for(route_class)
        if self.key_rate_share >= 1:
            return rate
        return ClassRate(
            per_minute=max(1, round(rate.per_minute * self.key_rate_share)),
            burst=max(1, round(rate.burst * self.key_rate_share)),
        )


def parse_plans(raw: str) -> dict[str, PlanLimits]:
    data = json.loads(raw)
    if not isinstance(data, dict) or set(data) != set(PLANS):
        raise ValueError(f"plans file must define exactly the plans {', '.join(PLANS)}")
    return {name: PlanLimits.model_validate(limits) for name, limits in data.items()}


@lru_cache(maxsize=1)
def all_plans() -> dict[str, PlanLimits]:
    return parse_plans(PLANS_FILE.read_text())


def limits_for(plan: str) -> PlanLimits:
    plans = all_plans()
    if plan not in plans:
        raise ValueError(f"unknown plan {plan!r}")
    return plans[plan]
