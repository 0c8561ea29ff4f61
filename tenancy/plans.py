"""Plans and their limits, kept as data (`tenancy/data/plans.json`) so changing a limit is not a code change.

The names are fixed by the schema (`ck_tenants_plan`); the numbers are read once per process and validated,
so a typo in the file stops the process at start instead of admitting traffic against a wrong limit.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tenancy.models import PLANS

PLANS_FILE = Path(__file__).resolve().parent / "data" / "plans.json"


class PlanLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int = Field(gt=0)
    burst: int = Field(gt=0)
    monthly_messages: int = Field(gt=0)
    monthly_tokens: int = Field(gt=0)
    concurrent_turns: int = Field(gt=0)
    # Temporal task-queue priority (1 is served first) and fairness weight for this plan's tenants.
    queue_priority: int = Field(ge=1, le=5)
    fairness_weight: float = Field(gt=0)


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
