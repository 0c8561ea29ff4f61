"""`/v1/drift/reports`: the nightly drift analysis of the caller's tenant, and applying its advice.

A report per night (`NightlyDriftWorkflow`): the findings (metric, segment, baseline and current values,
effect, p and Benjamini-Hochberg q), the daily cost change split into volume, model mix, tokens per turn and
price, and advice. Reading needs `tenant:read`; applying advice needs what the change itself needs
(`api.drift_advice`). Every read runs under the tenant's row-level security: another tenant's report id is
a 404 like a missing one.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import StateDep, TenantDep, requires
from api.drift_advice import apply_advice, report_not_found, valid_report_id
from api.pagination import Page, PageDep
from policies.drift.store import applied_advice, list_reports, read_report
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal

router = APIRouter(prefix="/v1/drift", tags=["drift"])

DriftReader = Annotated[TenantPrincipal, requires(Permission.TENANT_READ)]
MAX_ADVICE = 100


class AdviceOut(BaseModel):
    n: int
    kind: str = Field(description="safe_mode, model_pin or router_threshold")
    reason: str
    params: dict[str, Any]
    applied_at: datetime | None = None
    applied_by: str | None = None


class ReportSummary(BaseModel):
    id: str
    night: date
    detected: bool
    findings: int
    advice: int
    baseline_days: int
    baseline_turns: int
    current_turns: int
    created_at: datetime


class ReportOut(ReportSummary):
    tests: int = Field(description="tests run; findings are those left after false-alarm control")
    finding_details: list[dict[str, Any]]
    costs: list[dict[str, Any]] = Field(description="per agent: the daily cost change and its four effects")
    advice_details: list[AdviceOut]


def _summary(row: Any) -> ReportSummary:
    return ReportSummary(
        id=row.id,
        night=row.night,
        detected=row.detected,
        findings=len(row.findings or []),
        advice=len(row.advice or []),
        baseline_days=row.baseline_days,
        baseline_turns=row.baseline_turns,
        current_turns=row.current_turns,
        created_at=row.created_at,
    )


@router.get("/reports", response_model=Page[ReportSummary])
async def list_drift_reports(
    principal: DriftReader,
    state: StateDep,
    page: PageDep,
    detected: Annotated[bool | None, Query(description="only nights with (or without) drift")] = None,
) -> Page[ReportSummary]:
    scope = page.scope("drift_reports", principal.tenant_id, detected=detected)
    after = page.after(scope, str, str)
    position = (date.fromisoformat(after[0]), after[1]) if after else None
    async with state.db.tenant_session(principal.tenant_id) as session:
        rows = await list_reports(session, after=position, limit=page.limit + 1, detected=detected)
    items = [_summary(row) for row in rows]
    return page.of(items, scope, key=lambda r: (r.night.isoformat(), r.id))


@router.get("/reports/{report_id}", response_model=ReportOut)
async def read_drift_report(report_id: str, principal: DriftReader, state: StateDep) -> ReportOut:
    if not valid_report_id(report_id):
        raise report_not_found()
    async with state.db.tenant_session(principal.tenant_id) as session:
        row = await read_report(session, report_id)
        if row is None:
            raise report_not_found()
        applied = await applied_advice(session, report_id)
    advice = [
        AdviceOut(
            **item,
            applied_at=applied[item["n"]].applied_at if item["n"] in applied else None,
            applied_by=applied[item["n"]].applied_by if item["n"] in applied else None,
        )
        for item in row.advice or []
    ]
    return ReportOut(
        **_summary(row).model_dump(),
        tests=row.tests,
        finding_details=list(row.findings or []),
        costs=list(row.costs or []),
        advice_details=advice,
    )


@router.post("/reports/{report_id}/advice/{n}/apply", response_model=AdviceOut)
async def apply_drift_advice(
    report_id: str,
    n: Annotated[int, Path(ge=0, le=MAX_ADVICE)],
    principal: TenantDep,
    state: StateDep,
) -> AdviceOut:
    item, applied_at = await apply_advice(state, principal, report_id, n)
    return AdviceOut(**item, applied_at=applied_at, applied_by=principal.subject)
