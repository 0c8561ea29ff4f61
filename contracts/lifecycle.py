"""Input, progress, result and activity contracts of `TenantLifecycleWorkflow` (its errors: `contracts.errors`).

These types cross the Temporal boundary (pydantic data converter), so they change by adding fields with
defaults only. They import nothing with side effects so the workflow sandbox can load them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field

from contracts.base import Frozen

DEFAULT_RETENTION = timedelta(days=30)
MAX_RETENTION = timedelta(days=365)


SHORT_STEP_TIMEOUT = timedelta(minutes=1)
STOP_WORKFLOWS_TIMEOUT = timedelta(minutes=10)
EXPORT_TIMEOUT = timedelta(hours=2)
PURGE_TIMEOUT = timedelta(minutes=30)
# Long steps heartbeat as they go: a worker that died mid-export is noticed after this, not after hours.
STEP_HEARTBEAT = timedelta(minutes=1)


class Stage(StrEnum):
    STARTING = "starting"
    STOPPING_WORKFLOWS = "stopping_workflows"
    EXPORTING = "exporting"
    RETAINING = "retaining"
    PURGING = "purging"
    PURGED = "purged"


class TenantLifecycleInput(Frozen):
    tenant_id: str
    # How long the export is kept and the tenant's data waits before it is purged.
    retention: timedelta = Field(default=DEFAULT_RETENTION, ge=timedelta(0), le=MAX_RETENTION)
    actor: str = "platform"
    reason: str | None = None


class ExportSummary(Frozen):
    """Where the archive is and what it holds; never the data itself."""

    path: str
    rows: dict[str, int]
    bytes: int = 0


class PurgeSummary(Frozen):
    rows: dict[str, int]
    redis_keys: int = 0
    # True when an earlier attempt had already purged and this one only read back what it recorded.
    repeated: bool = False


class LifecycleProgress(Frozen):
    tenant_id: str
    stage: Stage
    offboarding_started_at: datetime | None = None
    purge_after: datetime | None = None
    workflows_stopped: int = 0
    export: ExportSummary | None = None
    purge: PurgeSummary | None = None


class TenantLifecycleResult(Frozen):
    tenant_id: str
    workflows_stopped: int
    export: ExportSummary
    purge: PurgeSummary


# ---- activity contracts -------------------------------------------------------------------------------


class MarkOffboardingInput(Frozen):
    tenant_id: str
    retention: timedelta
    actor: str
    reason: str | None = None


class MarkOffboardingResult(Frozen):
    offboarding_started_at: datetime
    purge_after: datetime


class StopWorkflowsInput(Frozen):
    tenant_id: str
    # The lifecycle run itself, which must not stop itself.
    exclude_workflow_id: str
    reason: str


class StopWorkflowsResult(Frozen):
    stopped: int


class ExportInput(Frozen):
    tenant_id: str
    # Names the archive's folder, so a retried export finds (or replaces) its own earlier attempt.
    export_id: str


class PurgeRedisInput(Frozen):
    tenant_id: str


class PurgeRedisResult(Frozen):
    keys_deleted: int


class PurgeDatabaseInput(Frozen):
    tenant_id: str
    actor: str
    export_path: str
    redis_keys: int = 0
    workflows_stopped: int = 0


def lifecycle_workflow_id(tenant_id: str) -> str:
    # Prefixed by `platform`, not the tenant: the payload codec then encrypts this run under the platform
    # key, which outlives the purge that shreds the tenant's own keys, so the run stays readable and
    # replayable after it. The tenant is still in the id and in the `TenantId` search attribute.
    return f"platform:lifecycle:{tenant_id}"
