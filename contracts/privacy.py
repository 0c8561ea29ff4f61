"""Contracts of the privacy workflows: `ErasureWorkflow` (one end customer forgotten) and `RetentionWorkflow`
(every tenant's retention policy enforced). The work itself lives in `policies.erasure` and `activities.privacy`.

These types cross the Temporal boundary, so they change by adding fields with defaults only. They carry ids
and counts, never a customer's values: histories outlive the data they describe.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import Field

from contracts.base import Frozen

# ---- erasure ------------------------------------------------------------------------------------------
ERASURE_STOP_TIMEOUT = timedelta(minutes=2)
ERASURE_DATABASE_TIMEOUT = timedelta(minutes=10)
ERASURE_REDIS_TIMEOUT = timedelta(minutes=2)
ERASURE_REPORT_TIMEOUT = timedelta(minutes=1)
# The database step heartbeats while it waits for its lock and between tables: a worker that died mid-step
# is noticed after this, not after the step's whole timeout.
ERASURE_HEARTBEAT = timedelta(seconds=10)


def erasure_workflow_id(tenant_id: str, erasure_id: str) -> str:
    return f"{tenant_id}:erasure:{erasure_id}"


class ErasureStatus(StrEnum):
    RUNNING = "running"
    ERASED = "erased"  # the data is gone; the report is being signed
    COMPLETED = "completed"  # signed report stored and audited


class ErasureInput(Frozen):
    tenant_id: str
    erasure_id: str
    customer_id: str
    actor: str = "platform"


class ErasureStepInput(Frozen):
    """The input of the stop and database steps: which erasure of which customer."""

    tenant_id: str
    erasure_id: str
    customer_id: str


class StopConversationsResult(Frozen):
    conversation_ids: list[str]
    stopped: int


class EraseDatabaseResult(Frozen):
    # Rows deleted or anonymised per table ("public.messages": 12).
    rows: dict[str, int]
    conversation_ids: list[str]
    # True when an earlier attempt had erased already and this one read back what it recorded.
    repeated: bool = False


class EraseRedisInput(Frozen):
    tenant_id: str
    conversation_ids: list[str]


class EraseRedisResult(Frozen):
    keys_deleted: int


class SignReportInput(Frozen):
    tenant_id: str
    erasure_id: str
    customer_id: str
    actor: str
    rows: dict[str, int]
    redis_keys: int
    workflows_stopped: int


class SignedReport(Frozen):
    key_id: str
    # Hex SHA-256 of the canonical report the signature covers.
    report_sha256: str


class ErasureResult(Frozen):
    erasure_id: str
    rows: dict[str, int]
    redis_keys: int
    workflows_stopped: int
    report: SignedReport


# ---- retention ----------------------------------------------------------------------------------------
RETENTION_SCHEDULE_ID = "platform:privacy:retention"
# Prefixed by `platform`: the payload codec encrypts the run under the platform key, not one tenant's.
RETENTION_WORKFLOW_ID = "platform:privacy:retention"
RETENTION_LIST_TIMEOUT = timedelta(seconds=30)
RETENTION_PAGE_TIMEOUT = timedelta(minutes=10)
RETENTION_HEARTBEAT = timedelta(seconds=30)
RETENTION_TENANT_PAGE = 200
DEFAULT_RETENTION_BATCH = 500
MAX_RETENTION_BATCH = 5000
# One activity call deletes at most this many batches per kind; the workflow calls again while more is left.
DEFAULT_RETENTION_BATCHES_PER_CALL = 20


class RetentionInput(Frozen):
    batch_size: int = Field(default=DEFAULT_RETENTION_BATCH, ge=1, le=MAX_RETENTION_BATCH)
    batches_per_call: int = Field(default=DEFAULT_RETENTION_BATCHES_PER_CALL, ge=1, le=1000)
    # Where a run continued as new picks up, and what it had done so far.
    cursor: str | None = None
    tenants: int = 0
    deleted: dict[str, int] = Field(default_factory=dict)
    failed: list[str] = Field(default_factory=list)


class RetentionListInput(Frozen):
    cursor: str | None = None
    limit: int = Field(default=RETENTION_TENANT_PAGE, ge=1, le=RETENTION_TENANT_PAGE)


class RetentionListResult(Frozen):
    tenant_ids: list[str]
    next_cursor: str | None = None


class EnforceRetentionInput(Frozen):
    # A page of tenants: most have no policy, and one activity per tenant would cost a round trip each.
    tenant_ids: list[str]
    batch_size: int = Field(default=DEFAULT_RETENTION_BATCH, ge=1, le=MAX_RETENTION_BATCH)
    batches_per_call: int = Field(default=DEFAULT_RETENTION_BATCHES_PER_CALL, ge=1, le=1000)


class EnforceRetentionResult(Frozen):
    # Rows per table (and stream entries, as "redis.events") removed by this call.
    deleted: dict[str, int]
    # Tenants with more to delete than one call's batches took; the workflow calls again for them.
    more: list[str] = Field(default_factory=list)
    # Tenants whose enforcement failed in this call (named in the run's result, retried the next day).
    failed: list[str] = Field(default_factory=list)


class RetentionResult(Frozen):
    tenants: int
    deleted: dict[str, int]
    failed: list[str] = Field(default_factory=list)
