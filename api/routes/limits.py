"""`/v1/limits`: what the caller's tenant may do, and how much of it is used.

Always the caller's own tenant (there is no id to name another one): its plan, the rates per route class
(for the tenant and for one key), the month's quotas with what is used, concurrent turns in use, the budget
mode, the rate at which it may start turns on the engine, and whether new turns are being shed right now.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel

from api.admission.deps import AdmissionDep, AdmittedDep
from api.admission.starts import start_rate_of
from api.deps import requires
from policies import quotas
from tenancy.permissions import Permission
from tenancy.plans import ClassRate, RouteClass
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/limits", tags=["limits"])

TenantReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]


class RateOut(BaseModel):
    per_minute: int
    burst: int

    @classmethod
    def of(cls, rate: ClassRate) -> RateOut:
        return cls(per_minute=rate.per_minute, burst=rate.burst)


class ClassRatesOut(BaseModel):
    tenant: RateOut
    # What one API key (or token subject) may use of the tenant's rate.
    key: RateOut


class QuotaOut(BaseModel):
    limit: int
    used: int
    remaining: int
    resets_at: datetime


class ConcurrencyOut(BaseModel):
    limit: int
    in_use: int
    wait_seconds: float


class StartRateOut(BaseModel):
    """Turns the tenant may start on the engine, across every gateway (429 `start_rate_limited` beyond)."""

    per_minute: float
    burst: int


class SheddingOut(BaseModel):
    level: int
    # False while this plan's new turns (messages, new conversations) are refused with 503 `overloaded`.
    new_turns_admitted: bool


class LimitsOut(BaseModel):
    plan: str
    rate_limits: dict[RouteClass, ClassRatesOut]
    quotas: dict[quotas.Quota, QuotaOut]
    concurrency: ConcurrencyOut
    start_rate: StartRateOut
    budget_mode: str
    shedding: SheddingOut


def _quota(check: quotas.QuotaCheck) -> QuotaOut:
    return QuotaOut(limit=check.limit, used=check.used, remaining=check.remaining, resets_at=check.resets_at)


@router.get("", response_model=LimitsOut)
async def read_limits(principal: TenantReader, admission: AdmissionDep, admitted: AdmittedDep) -> LimitsOut:
    tenant_id = principal.tenant_id
    plan, limits = admitted.plan.name, admitted.limits
    month = quotas.month_of()
    messages_used, tokens_used, in_use, budget_mode = await asyncio.gather(
        admission.message_quota.used(tenant_id, month),
        admission.tokens_used(tenant_id, month),
        admission.leases.in_use(tenant_id),
        admission.budget_mode(tenant_id),
    )
    messages = quotas.QuotaCheck(
        messages_used < limits.monthly_messages, quotas.Quota.MESSAGES, limits.monthly_messages, messages_used, month
    )
    tokens = quotas.token_check(tokens_used, limits.monthly_tokens, month)
    return LimitsOut(
        plan=plan,
        rate_limits={
            route_class: ClassRatesOut(
                tenant=RateOut.of(limits.rate_for(route_class)), key=RateOut.of(limits.key_rate_for(route_class))
            )
            for route_class in RouteClass
        },
        quotas={quotas.Quota.MESSAGES: _quota(messages), quotas.Quota.TOKENS: _quota(tokens)},
        concurrency=ConcurrencyOut(
            limit=limits.concurrent_turns, in_use=in_use, wait_seconds=limits.concurrency_wait_seconds
        ),
        start_rate=StartRateOut(
            per_minute=(start := start_rate_of(admission.settings, admitted.plan)).per_minute, burst=start.burst
        ),
        budget_mode=budget_mode,
        shedding=SheddingOut(
            level=admission.shedder.level, new_turns_admitted=not admission.shedder.sheds(limits.shed_rank)
        ),
    )
