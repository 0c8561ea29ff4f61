"""`RetentionWorkflow`: delete what every tenant's retention policy no longer keeps, in bounded batches.

Started daily by the Temporal Schedule `platform:privacy:retention` (`app/retention_schedule.py`), or by hand.
It pages through the active tenants and calls `privacy.retention.enforce` once per page: for each
tenant with a policy, at most `batches_per_call` batches of `batch_size` rows per kind, each batch its own
transaction, and it names the tenants with more left; the workflow calls again for those (at most
`_MAX_CALLS_PER_PAGE` times, so one tenant's backlog cannot hold a run for long; the next day continues).
A tenant whose enforcement fails is named in the result and the others go on. Long runs continue as new.
The last run then applies the platform's own rule to the signup tables (`signup.retention`, no tenant's data;
behind the patch `signup-retention`, so runs recorded before it replay unchanged).
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.names import ACT_RETENTION_ENFORCE, ACT_RETENTION_LIST_TENANTS, ACT_SIGNUP_RETENTION, WF_RETENTION
    from contracts.privacy import (
        RETENTION_HEARTBEAT,
        RETENTION_LIST_TIMEOUT,
        RETENTION_PAGE_TIMEOUT,
        EnforceRetentionInput,
        EnforceRetentionResult,
        RetentionInput,
        RetentionListInput,
        RetentionListResult,
        RetentionResult,
    )
    from contracts.retry import RETENTION_RETRY
    from contracts.signup import SignupRetentionInput, SignupRetentionResult

# A backlog larger than this many calls' batches is left for the next day, so one tenant cannot hold a run.
_MAX_CALLS_PER_PAGE = 20
# Named in `failed` when the signup tables' retention failed (retried the next day).
SIGNUP_DATA = "platform:signups"


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
            if page.tenant_ids:
                page_deleted, page_failed = await self._page(page.tenant_ids, inp)
                for table, n in page_deleted.items():
                    deleted[table] = deleted.get(table, 0) + n
                failed += page_failed
                tenants += len(page.tenant_ids)
            cursor = page.next_cursor
            workflow.set_current_details(f"**Retention**: {tenants} tenants, {sum(deleted.values())} removed")
            if cursor is None:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    inp.model_copy(update={"cursor": cursor, "tenants": tenants, "deleted": deleted, "failed": failed})
                )
        if workflow.patched("signup-retention"):
            try:
                platform = await workflow.execute_activity(
                    ACT_SIGNUP_RETENTION,
                    SignupRetentionInput(batch_size=inp.batch_size),
                    result_type=SignupRetentionResult,
                    start_to_close_timeout=RETENTION_PAGE_TIMEOUT,
                    retry_policy=RETENTION_RETRY,
                )
            except ActivityError:
                failed.append(SIGNUP_DATA)
            else:
                for table, n in platform.deleted.items():
                    deleted[table] = deleted.get(table, 0) + n
        return RetentionResult(tenants=tenants, deleted=deleted, failed=failed)

    async def _page(self, tenant_ids: list[str], inp: RetentionInput) -> tuple[dict[str, int], list[str]]:
        """Enforce a page of tenants, calling again for those with more left; totals and failed tenants."""
        total: dict[str, int] = {}
        failed: list[str] = []
        pending = list(tenant_ids)
        for _ in range(_MAX_CALLS_PER_PAGE):
            try:
                result = await workflow.execute_activity(
                    ACT_RETENTION_ENFORCE,
                    EnforceRetentionInput(
                        tenant_ids=pending, batch_size=inp.batch_size, batches_per_call=inp.batches_per_call
                    ),
                    result_type=EnforceRetentionResult,
                    start_to_close_timeout=RETENTION_PAGE_TIMEOUT,
                    heartbeat_timeout=RETENTION_HEARTBEAT,
                    retry_policy=RETENTION_RETRY,
                )
            except ActivityError:
                # The page's trouble must not cost every later page its retention.
                failed += pending
                break
            for table, n in result.deleted.items():
                total[table] = total.get(table, 0) + n
            failed += result.failed
            pending = result.more
            if not pending:
                break
        return total, failed
