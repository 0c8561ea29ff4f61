"""`/v1/budgets`: the caller's tenant's spending limits, its spend against them, and its mode.

Soft limits put the tenant in safe mode (cheaper model tier, no expensive tools), hard limits block new
work; both per UTC day and per UTC month, each optional. `PUT` replaces all four (an omitted or null limit
is cleared) and is audited; only the tenant's owners may change them (`tenant:write`). Money is a decimal
string with six places on the way out and a number or decimal string on the way in.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import StateDep, requires
from api.state import GatewayState
from policies.budgets import Budget, BudgetMode, Period, percent_used, save_budget
from policies.cost_guard import CostGuard
from policies.ledger import MONEY_DIGITS, MONEY_PLACES
from tenancy.audit import record_event
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/budgets", tags=["budgets"])

BudgetReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
BudgetWriter = Annotated[TenantPrincipal, requires(Permission.TENANT_WRITE)]
# What numeric(14, 6) holds.
MAX_LIMIT = Decimal("99999999.999999")
Limit = Annotated[
    Decimal | None,
    Field(default=None, ge=0, le=MAX_LIMIT, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES),
]


class BudgetLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    daily_soft_usd: Limit = None
    daily_hard_usd: Limit = None
    monthly_soft_usd: Limit = None
    monthly_hard_usd: Limit = None

    @model_validator(mode="after")
    def _soft_within_hard(self) -> BudgetLimits:
        for period in ("daily", "monthly"):
            soft, hard = getattr(self, f"{period}_soft_usd"), getattr(self, f"{period}_hard_usd")
            if soft is not None and hard is not None and soft > hard:
                raise ValueError(f"{period}_soft_usd must not exceed {period}_hard_usd")
        return self


class SpendOut(BaseModel):
    day_usd: Decimal
    month_usd: Decimal
    reserved_usd: Decimal = Field(description="live reservations of calls under way; counted in both periods")


class PercentUsed(BaseModel):
    daily_soft: float | None = None
    daily_hard: float | None = None
    monthly_soft: float | None = None
    monthly_hard: float | None = None


class BudgetOut(BaseModel):
    limits: BudgetLimits
    updated_at: datetime | None
    spend: SpendOut
    mode: BudgetMode
    percent_used: PercentUsed


def _guard(state: GatewayState) -> CostGuard:
    return CostGuard(state.db, state.redis, state.bus, mode_cache_seconds=state.settings.budget_mode_cache_seconds)


async def _report(guard: CostGuard, tenant_id: str) -> BudgetOut:
    budget, spend, mode = await guard.status(tenant_id)
    budget = budget or Budget()
    percents: dict[str, float] = {}
    for period, kind, limit in budget.limits():
        name = f"{'daily' if period == Period.DAY else 'monthly'}_{kind}"
        percents[name] = percent_used(limit, spend.committed(period))
    return BudgetOut(
        limits=BudgetLimits(
            daily_soft_usd=budget.daily_soft_usd,
            daily_hard_usd=budget.daily_hard_usd,
            monthly_soft_usd=budget.monthly_soft_usd,
            monthly_hard_usd=budget.monthly_hard_usd,
        ),
        updated_at=budget.updated_at,
        spend=SpendOut(day_usd=spend.day_usd, month_usd=spend.month_usd, reserved_usd=spend.reserved_usd),
        mode=mode,
        percent_used=PercentUsed(**percents),
    )


@router.get("", response_model=BudgetOut)
async def read_budget(principal: BudgetReader, state: StateDep) -> BudgetOut:
    return await _report(_guard(state), principal.tenant_id)


@router.put("", response_model=BudgetOut)
async def replace_budget(body: BudgetLimits, principal: BudgetWriter, state: StateDep) -> BudgetOut:
    limits = Budget(
        daily_soft_usd=body.daily_soft_usd,
        daily_hard_usd=body.daily_hard_usd,
        monthly_soft_usd=body.monthly_soft_usd,
        monthly_hard_usd=body.monthly_hard_usd,
    )
    async with state.db.tenant_session(principal.tenant_id) as session:
        saved = await save_budget(session, principal.tenant_id, limits)
        # In the same transaction: the change and its audit record commit together or not at all.
        await record_event(
            session,
            tenant_id=principal.tenant_id,
            actor=principal.subject,
            action="budget.updated",
            target="budgets",
            details={
                f"{'daily' if period == Period.DAY else 'monthly'}_{kind}_usd": str(value)
                for period, kind, value in saved.limits()
            },
        )
    guard = _guard(state)
    await guard.invalidate(principal.tenant_id)
    return await _report(guard, principal.tenant_id)
