"""Input, result and activity contracts of `NightlyDriftWorkflow` (the analysis itself: `policies.drift`).

These types cross the Temporal boundary, so they change by adding fields with defaults only.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field

from contracts.base import Frozen

DRIFT_SCHEDULE_ID = "platform:drift:nightly"
# Prefixed by `platform`: the payload codec encrypts the run under the platform key, not one tenant's.
DRIFT_WORKFLOW_ID = "platform:drift:nightly"
DEFAULT_BASELINE_DAYS = 14
MAX_BASELINE_DAYS = 56
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32
TENANT_PAGE = 200

LIST_TENANTS_TIMEOUT = timedelta(seconds=30)
# One tenant's night: its facts (two weeks of turns), the tests, one insert and one event.
ANALYSE_TENANT_TIMEOUT = timedelta(minutes=5)


class NightlyDriftInput(Frozen):
    # The UTC day to analyse; None means yesterday of the run's start (what the schedule wants).
    night: date | None = None
    baseline_days: int = Field(default=DEFAULT_BASELINE_DAYS, ge=1, le=MAX_BASELINE_DAYS)
    # Tenants analysed at once: bounds the load on Postgres and the worker, not the run's length alone.
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    # Where a run continued as new picks up, and what it had done so far.
    cursor: str | None = None
    done: int = 0
    detected: int = 0
    failed: list[str] = Field(default_factory=list)


class NightlyDriftResult(Frozen):
    night: date
    tenants: int
    detected: int
    failed: list[str] = Field(default_factory=list)


class ListTenantsInput(Frozen):
    cursor: str | None = None
    limit: int = Field(default=TENANT_PAGE, ge=1, le=1000)


class ListTenantsResult(Frozen):
    tenant_ids: list[str]
    next_cursor: str | None = None


class AnalyseTenantInput(Frozen):
    tenant_id: str
    night: date
    baseline_days: int = Field(default=DEFAULT_BASELINE_DAYS, ge=1, le=MAX_BASELINE_DAYS)


class AnalyseTenantResult(Frozen):
    tenant_id: str
    report_id: str
    detected: bool
    findings: int = 0
    advice: int = 0
