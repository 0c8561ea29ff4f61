"""`RetentionWorkflow`: delete what every tenant's retention policy no longer keeps, in bounded batches.

Started daily by the Temporal Schedule `platform:privacy:retention` (`app/retention_schedule.py`), or by hand.
It pages through the active tenants and calls `privacy.retention.enforce_tenant` for each: one call deletes at
most `batches_per_call` batches of `batch_size` rows per kind, each batch its own transaction, and says
whether more is left; the workflow calls again until nothing is (at most `_MAX_CALLS_PER_TENANT` times a
run, so one tenant's backlog cannot hold the others up for long; the next day continues). A tenant whose
calls keep failing is named in the result and the others go on. Long runs continue as new.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.names import ACT_RETENTION_ENFORCE, ACT_RETENTION_LIST_TENANTS, WF_RETENTION
    from contracts.privacy import (
        RETENTION_HEARTBEAT,
        RETENTION_LIST_TIMEOUT,
        RETENTION_TENANT_TIMEOUT,
        EnforceRetentionInput,
        EnforceRetentionResult,
        RetentionInput,
        RetentionListInput,
        RetentionListResult,
        RetentionResult,
    )
    from contracts.retry import RETENTION_RETRY

_MAX_CALLS_PER_TENANT = 20


@workflow.defn(name=WF_RETENTION)
class RetentionWorkflow:
    @workflow.run
    async def run(self, inp: RetentionInput) -> RetentionResult:
        tenants, deleted, failed = inp.tenants, dict(inp.deleted), list(inp.failed)
        cursor = inp.cursor
        while True:
            page = await workflow.execute_activity(
                ACT_RETENTION_LIST_TENANTS,
                RetentionListInput(cursor=cursor),
                result_type=RetentionListResult,
                start_to_close_timeout=RETENTION_LIST_TIMEOUT,
                retry_policy=RETENTION_RETRY,
            )
            for tenant_id in page.tenant_ids:
                try:
                    for table, n in (await self._tenant(tenant_id, inp)).items():
                        deleted[table] = deleted.get(table, 0) + n
                except ActivityError:
                    # One tenant's trouble must not cost every other tenant its retention.
                    failed.append(tenant_id)
                tenants += 1
            cursor = page.next_cursor
            workflow.set_current_details(f"**Retention**: {tenants} tenants, {sum(deleted.values())} removed")
            if cursor is None:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    inp.model_copy(update={"cursor": cursor, "tenants": tenants, "deleted": deleted, "failed": failed})
                )
        return RetentionResult(tenants=tenants, deleted=deleted, failed=failed)

    async def _tenant(self, tenant_id: str, inp: RetentionInput) -> dict[str, int]:
        total: dict[str, int] = {}
        for _ in range(_MAX_CALLS_PER_TENANT):
            result = await workflow.execute_activity(
                ACT_RETENTION_ENFORCE,
                EnforceRetentionInput(
                    tenant_id=tenant_id, batch_size=inp.batch_size, batches_per_call=inp.batches_per_call
                ),
                result_type=EnforceRetentionResult,
                start_to_close_timeout=RETENTION_TENANT_TIMEOUT,
                heartbeat_timeout=RETENTION_HEARTBEAT,
                retry_policy=RETENTION_RETRY,
                summary=tenant_id,
            )
            for table, n in result.deleted.items():
                total[table] = total.get(table, 0) + n
            if not result.more:
                break
        return total
