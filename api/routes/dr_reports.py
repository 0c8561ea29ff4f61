"""`/v1/ops/dr/reports`: the platform operators read the reports of past DR drills.

Platform operators (and administrators) only: a tenant's key or token gets 403 whatever its role, since a
drill covers every tenant's data. The reports are the files the drill writes under `<data_dir>/dr/reports`
(`core.dr.reports`), so the gateway must see the workers' data dir (one machine, or a shared volume); the
same reports print with `aiaas dr reports`. The listing is newest first, a summary per drill; one report has
every check (mismatches per tenant and table, audit chains, replayed histories, problems).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.deps import PlatformOperatorDep, StateDep
from api.errors import ApiError
from api.pagination import Page, PageDep
from contracts.dr import DrDrillReport
from core.dr.reports import all_reports, one_report

router = APIRouter(prefix="/v1/ops/dr", tags=["operations"])

DrillId = Annotated[uuid.UUID, Path(description="the drill's id (its workflow run id)")]


class DrDatabaseSummary(BaseModel):
    """One database of a drill: `global` (the control plane) or a region."""

    scope: str
    verified: bool
    rto_seconds: float
    rpo_seconds: float | None
    tenants: int
    rows: int
    mismatches: int
    audit_failures: int


class DrReportSummary(BaseModel):
    drill_id: str
    started_at: datetime
    finished_at: datetime
    verified: bool
    rto_seconds: float
    rpo_seconds: float | None
    tenants: int
    rows: int
    mismatches: int
    audit_failures: int
    replay_failures: int
    problems: list[str]
    # Per database (empty for drills before per-region drills); the numbers above are the overall ones.
    databases: list[DrDatabaseSummary] = []

    @classmethod
    def of(cls, r: DrDrillReport) -> DrReportSummary:
        return cls(
            drill_id=r.drill_id,
            started_at=r.started_at,
            finished_at=r.finished_at,
            verified=r.verified,
            rto_seconds=r.rto_seconds,
            rpo_seconds=r.rpo_seconds,
            tenants=r.tenants,
            rows=r.rows,
            mismatches=len(r.mismatches),
            audit_failures=len(r.audit_failures),
            replay_failures=len(r.replay_failures),
            problems=r.problems[:20],
            databases=[
                DrDatabaseSummary(
                    scope=d.scope,
                    verified=d.verified,
                    rto_seconds=d.rto_seconds,
                    rpo_seconds=d.rpo_seconds,
                    tenants=d.tenants,
                    rows=d.rows,
                    mismatches=len(d.mismatches),
                    audit_failures=len(d.audit_failures),
                )
                for d in r.databases
            ],
        )


def _root(state: StateDep) -> FsPath:
    return FsPath(state.settings.data_dir).expanduser().resolve() / "dr"


def _position(s: DrReportSummary) -> tuple[int, str]:
    # Newest first: the listing's order ascends, so the end time is negated (microseconds, exact).
    return (-int(s.finished_at.timestamp() * 1_000_000), s.drill_id)


@router.get("/reports", response_model=Page[DrReportSummary])
async def list_dr_reports(
    _operator: PlatformOperatorDep,
    state: StateDep,
    page: PageDep,
    verified: Annotated[bool | None, Query(description="only verified (true) or failed (false) drills")] = None,
) -> Page[DrReportSummary]:
    """The drills' reports, newest first."""
    scope = page.scope("ops-dr-reports", None, verified=verified)
    found = [DrReportSummary.of(r) for r in all_reports(_root(state)) if verified is None or r.verified == verified]
    return page.slice(found, scope, key=_position, kinds=(int, str))


@router.get("/reports/{drill_id}", response_model=DrDrillReport)
async def read_dr_report(drill_id: DrillId, _operator: PlatformOperatorDep, state: StateDep) -> DrDrillReport:
    """One drill's whole report."""
    report = one_report(_root(state), drill_id)
    if report is None:
        raise ApiError(404, "dr_report_not_found", "no DR drill report with this id")
    return report
