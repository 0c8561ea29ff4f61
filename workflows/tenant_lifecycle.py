"""`TenantLifecycleWorkflow`: offboard a tenant, from closing its doors to purging its data.

One run per tenant (id `"platform:lifecycle:{tenant_id}"`). It marks the tenant offboarding (authentication refuses it
from then on), stops the tenant's running workflows, exports its data as an archive, waits out the retention
period on a durable timer, then stops anything that started meanwhile and purges the tenant from Redis and
Postgres. Every step is an idempotent activity, so a retry or a worker crash anywhere repeats nothing that
matters. Progress shows in Temporal UI: the `progress` query, the current details, and the memo.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.errors import NON_RETRYABLE_LIFECYCLE_ERRORS, InvalidLifecycleInput, TenantGone
    from contracts.lifecycle import (
        EXPORT_TIMEOUT,
        PURGE_TIMEOUT,
        SHORT_STEP_TIMEOUT,
        STEP_HEARTBEAT,
        STOP_WORKFLOWS_TIMEOUT,
        ExportInput,
        ExportSummary,
        LifecycleProgress,
        MarkOffboardingInput,
        MarkOffboardingResult,
        PurgeDatabaseInput,
        PurgeRedisInput,
        PurgeRedisResult,
        PurgeSummary,
        Stage,
        StopWorkflowsInput,
        StopWorkflowsResult,
        TenantLifecycleInput,
        TenantLifecycleResult,
    )
    from contracts.names import (
        ACT_EXPORT_DATA,
        ACT_MARK_OFFBOARDING,
        ACT_PURGE_DATABASE,
        ACT_PURGE_REDIS,
        ACT_STOP_WORKFLOWS,
        WF_TENANT_LIFECYCLE,
    )
    from contracts.retry import LIFECYCLE_RETRY

_STOP_REASON = "tenant offboarding"
T = TypeVar("T")


@workflow.defn(name=WF_TENANT_LIFECYCLE)
class TenantLifecycleWorkflow:
    @workflow.init
    def __init__(self, inp: TenantLifecycleInput) -> None:
        self._input = inp
        self._progress = LifecycleProgress(tenant_id=inp.tenant_id, stage=Stage.STARTING)

    @workflow.run
    async def run(self, inp: TenantLifecycleInput) -> TenantLifecycleResult:
        if not inp.tenant_id:
            raise InvalidLifecycleInput("tenant_id is required")
        marked = await self._step(
            ACT_MARK_OFFBOARDING,
            MarkOffboardingInput(tenant_id=inp.tenant_id, retention=inp.retention, actor=inp.actor, reason=inp.reason),
            MarkOffboardingResult,
            SHORT_STEP_TIMEOUT,
        )
        self._advance(
            Stage.STOPPING_WORKFLOWS,
            offboarding_started_at=marked.offboarding_started_at,
            purge_after=marked.purge_after,
        )
        stopped = await self._stop_workflows()
        self._advance(Stage.EXPORTING, workflows_stopped=stopped)
        export = await self._step(
            ACT_EXPORT_DATA,
            ExportInput(tenant_id=inp.tenant_id, export_id=workflow.info().run_id),
            ExportSummary,
            EXPORT_TIMEOUT,
            heartbeat=True,
        )
        self._advance(Stage.RETAINING, export=export)
        # The deadline was fixed when offboarding began (the admin was told it), so a slow export eats into
        # the retention period instead of pushing the purge back.
        remaining = marked.purge_after - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary="retention period")
        self._advance(Stage.PURGING)
        # Nothing of the tenant's should be running by now; a second look costs little and catches a
        # workflow started (by a schedule, say) while the retention period ran.
        stopped += await self._stop_workflows()
        redis = await self._step(
            ACT_PURGE_REDIS, PurgeRedisInput(tenant_id=inp.tenant_id), PurgeRedisResult, PURGE_TIMEOUT
        )
        purge = await self._step(
            ACT_PURGE_DATABASE,
            PurgeDatabaseInput(
                tenant_id=inp.tenant_id,
                actor=inp.actor,
                export_path=export.path,
                redis_keys=redis.keys_deleted,
                workflows_stopped=stopped,
            ),
            PurgeSummary,
            PURGE_TIMEOUT,
            heartbeat=True,
        )
        self._advance(Stage.PURGED, workflows_stopped=stopped, purge=purge)
        return TenantLifecycleResult(tenant_id=inp.tenant_id, workflows_stopped=stopped, export=export, purge=purge)

    @workflow.query(name="progress")
    def progress(self) -> LifecycleProgress:
        return self._progress

    async def _stop_workflows(self) -> int:
        result = await self._step(
            ACT_STOP_WORKFLOWS,
            StopWorkflowsInput(
                tenant_id=self._input.tenant_id,
                exclude_workflow_id=workflow.info().workflow_id,
                reason=_STOP_REASON,
            ),
            StopWorkflowsResult,
            STOP_WORKFLOWS_TIMEOUT,
            heartbeat=True,
        )
        return result.stopped

    async def _step(
        self, activity: str, arg: object, result_type: type[T], start_to_close: timedelta, *, heartbeat: bool = False
    ) -> T:
        try:
            return await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                start_to_close_timeout=start_to_close,
                heartbeat_timeout=STEP_HEARTBEAT if heartbeat else None,
                retry_policy=LIFECYCLE_RETRY,
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type in NON_RETRYABLE_LIFECYCLE_ERRORS:
                raise TenantGone(f"{activity}: {cause.message}") from err
            raise

    def _advance(self, stage: Stage, **changes: object) -> None:
        self._progress = self._progress.model_copy(update={"stage": stage, **changes})
        # What Temporal UI shows without running a query: the stage in the memo, a line in the details.
        workflow.upsert_memo({"stage": stage.value})
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        p = self._progress
        lines = [f"**Offboarding** tenant `{p.tenant_id}`: {p.stage.value}"]
        if p.purge_after is not None:
            lines.append(f"purge after {p.purge_after.isoformat()}")
        if p.workflows_stopped:
            lines.append(f"{p.workflows_stopped} workflows stopped")
        if p.export is not None:
            lines.append(f"export: {p.export.path} ({sum(p.export.rows.values())} rows)")
        if p.purge is not None:
            lines.append(f"purged {sum(p.purge.rows.values())} rows and {p.purge.redis_keys} Redis keys")
        return "\n\n".join(lines)
