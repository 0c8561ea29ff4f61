"""The side effects of offboarding a tenant, one idempotent activity per step of `TenantLifecycleWorkflow`.

Each returns counts and paths, never the data: the archive stays on disk and the workflow carries its path.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agents import sealed_records, steps, transcripts
from contracts.errors import InvalidLifecycleInput, LifecycleErrorType
from contracts.lifecycle import (
    ExportInput,
    ExportSummary,
    MarkOffboardingInput,
    MarkOffboardingResult,
    PurgeDatabaseInput,
    PurgeRedisInput,
    PurgeRedisResult,
    PurgeSummary,
    StopWorkflowsInput,
    StopWorkflowsResult,
)
from contracts.names import (
    ACT_EXPORT_DATA,
    ACT_MARK_OFFBOARDING,
    ACT_PURGE_DATABASE,
    ACT_PURGE_REDIS,
    ACT_STOP_WORKFLOWS,
)
from db.database import Database, run_sql
from tenancy import audit_sealing
from tenancy.audit import PLATFORM_CHAIN, record_event_once
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import TenantNotFound, bind, change_status, read_tenant
from tenancy.tenant_data import export_tenant, purge_tenant_rows

_SCAN_BATCH = 500
# The tables with fields sealed under the tenant's data key, opened by the modules that own them: the tenant
# leaving gets its data in clear (its keys are deleted with the rest).
EXPORT_OPENERS = {
    "public.messages": transcripts.export_row,
    "public.tool_calls": steps.export_row,
    **{f"public.{table.name}": sealed_records.export_opener(table) for table in sealed_records.TABLES},
    "audit.events": audit_sealing.export_row,
}
# What may appear inside a quoted visibility query literal: the platform's own ids, nothing that ends it.
_WORKFLOW_ID = re.compile(r"[A-Za-z0-9:_.-]{1,200}")
# A folder name under the tenant's exports: no separators, not hidden (drafts are).
_EXPORT_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")
# Visibility is eventually consistent: a workflow just started may be missing from one listing, and one
# just terminated may still show as running. A few passes a moment apart settle both.
_STOP_PASSES = 5
_STOP_PAUSE_SECONDS = 0.5


def _tenant_id(value: str) -> str:
    # Tenant ids are canonical UUIDs; anything else cannot be a tenant and must not reach a query string.
    with contextlib.suppress(ValueError):
        if str(uuid.UUID(value)) == value:
            return value
    raise ApplicationError("not a tenant id", type=LifecycleErrorType.TENANT_NOT_FOUND, non_retryable=True)


def _gone(tenant_id: str) -> ApplicationError:
    return ApplicationError(
        f"tenant {tenant_id} does not exist", type=LifecycleErrorType.TENANT_NOT_FOUND, non_retryable=True
    )


def purge_key(tenant_id: str) -> str:
    return f"tenant.purged:{tenant_id}"


class TenantLifecycleActivities:
    def __init__(
        self, db: Database, redis: Redis, temporal: Client, exports_dir: Path, *,
        forget_search_index: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self._db = db
        # Removes the tenant from a separate knowledge search index (Weaviate's tenants); given by the worker, which
        # may import the knowledge layer this one may not.
        self._forget_search_index = forget_search_index
        self._redis = redis
        self._temporal = temporal
        self._exports_dir = exports_dir

    @activity.defn(name=ACT_MARK_OFFBOARDING)
    async def mark_offboarding(self, inp: MarkOffboardingInput) -> MarkOffboardingResult:
        tenant_id = _tenant_id(inp.tenant_id)
        try:
            record = await change_status(
                self._db,
                self._redis,
                tenant_id,
                TenantStatus.OFFBOARDING,
                actor=inp.actor,
                reason=inp.reason,
                retention=inp.retention,
            )
        except TenantNotFound:
            raise _gone(tenant_id) from None
        if record.offboarding_started_at is None or record.purge_after is None:
            raise ApplicationError(
                "the tenant is not offboarding", type=LifecycleErrorType.TENANT_NOT_OFFBOARDING, non_retryable=True
            )
        return MarkOffboardingResult(
            offboarding_started_at=record.offboarding_started_at, purge_after=record.purge_after
        )

    @activity.defn(name=ACT_STOP_WORKFLOWS)
    async def stop_workflows(self, inp: StopWorkflowsInput) -> StopWorkflowsResult:
        tenant_id = _tenant_id(inp.tenant_id)
        if not _WORKFLOW_ID.fullmatch(inp.exclude_workflow_id):
            raise ApplicationError(
                "bad workflow id to exclude", type=InvalidLifecycleInput.__name__, non_retryable=True
            )
        query = (
            f"TenantId = '{tenant_id}' AND ExecutionStatus = 'Running' AND WorkflowId != '{inp.exclude_workflow_id}'"
        )
        # A retried attempt carries on counting where the last one heartbeated.
        details = activity.info().heartbeat_details
        stopped = int(details[0]) if details else 0
        handled: set[tuple[str, str]] = set()
        for attempt in range(_STOP_PASSES):
            running = [(w.id, w.run_id) async for w in self._temporal.list_workflows(query)]
            pending = [run for run in running if run not in handled]
            if not pending and attempt > 0:
                break
            for workflow_id, run_id in pending:
                handled.add((workflow_id, run_id))
                try:
                    await self._temporal.get_workflow_handle(workflow_id, run_id=run_id).terminate(reason=inp.reason)
                    stopped += 1
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # already closed: nothing to stop
                        raise
                activity.heartbeat(stopped)
            await asyncio.sleep(_STOP_PAUSE_SECONDS)
        return StopWorkflowsResult(stopped=stopped)

    @activity.defn(name=ACT_EXPORT_DATA)
    async def export_data(self, inp: ExportInput) -> ExportSummary:
        tenant_id = _tenant_id(inp.tenant_id)
        if not _EXPORT_ID.fullmatch(inp.export_id):
            raise ApplicationError("bad export id", type="InvalidExport", non_retryable=True)
        target = self._exports_dir / tenant_id / inp.export_id
        done = await export_tenant(self._db, tenant_id, target, heartbeat=activity.heartbeat, openers=EXPORT_OPENERS)
        return ExportSummary(path=done.path, rows=done.rows, bytes=done.bytes)

    @activity.defn(name=ACT_PURGE_REDIS)
    async def purge_redis(self, inp: PurgeRedisInput) -> PurgeRedisResult:
        tenant_id = _tenant_id(inp.tenant_id)
        deleted = 0
        # Every per-tenant key carries the tenant in its hash tag: `{tenant}` or `{tenant:conversation}`.
        for pattern in (f"aiaas:*{{{tenant_id}:*", f"aiaas:*{{{tenant_id}}}*"):
            batch: list[Any] = []
            async for key in self._redis.scan_iter(match=pattern, count=_SCAN_BATCH):
                batch.append(key)
                if len(batch) >= _SCAN_BATCH:
                    deleted += await self._redis.unlink(*batch)
                    batch.clear()
                    activity.heartbeat(deleted)
            if batch:
                deleted += await self._redis.unlink(*batch)
        return PurgeRedisResult(keys_deleted=deleted)

    @activity.defn(name=ACT_PURGE_DATABASE)
    async def purge_database(self, inp: PurgeDatabaseInput) -> PurgeSummary:
        """Delete every row of the tenant and record the outcome in the platform's chain, in one transaction.

        The record doubles as the idempotency mark: an attempt that finds it returns what it says instead of
        purging again (and reporting zero rows).
        """
        tenant_id = _tenant_id(inp.tenant_id)
        if self._forget_search_index is not None:
            # First and on every attempt (removing what is gone is nothing): the tenant is offboarding, nothing
            # writes new chunks, and a failure here is retried before any row is deleted.
            await self._forget_search_index(tenant_id)
        async with self._db.tenant_session(tenant_id) as session:
            # Two attempts of this activity at once (a timed-out one still running) take turns.
            await run_sql(
                session,
                "SELECT pg_advisory_xact_lock(hashtextextended('aiaas.lifecycle.purge:' || :tid, 0))",
                {"tid": tenant_id},
            )
            await bind(session, PLATFORM_CHAIN)
            prior = (
                await run_sql(
                    session,
                    "SELECT details FROM audit.events WHERE tenant_id = :chain AND idempotency_key = :key",
                    {"chain": PLATFORM_CHAIN, "key": purge_key(tenant_id)},
                )
            ).scalar()
            if prior is not None:
                return PurgeSummary(rows=prior["rows"], redis_keys=prior["redis_keys"], repeated=True)
            await bind(session, tenant_id)
            try:
                record = await read_tenant(session, tenant_id)
            except TenantNotFound:
                raise _gone(tenant_id) from None
            if record.status != TenantStatus.OFFBOARDING:
                raise ApplicationError(
                    f"tenant is {record.status}, not offboarding",
                    type=LifecycleErrorType.TENANT_NOT_OFFBOARDING,
                    non_retryable=True,
                )
            rows = await purge_tenant_rows(await session.connection(), tenant_id, heartbeat=activity.heartbeat)
            await bind(session, PLATFORM_CHAIN)
            await record_event_once(
                session,
                idempotency_key=purge_key(tenant_id),
                tenant_id=PLATFORM_CHAIN,
                actor=inp.actor,
                action="tenant.purged",
                target=tenant_id,
                details={
                    "rows": rows,
                    "redis_keys": inp.redis_keys,
                    "workflows_stopped": inp.workflows_stopped,
                    "export_path": inp.export_path,
                },
            )
        return PurgeSummary(rows=rows, redis_keys=inp.redis_keys)
