"""`NightlyDriftWorkflow`: last night of every active tenant against its trailing baseline, a report each.

Started by the Temporal Schedule `platform:drift:nightly` (`app/drift_schedule.py`) shortly after midnight UTC,
or by hand for a given night. It pages through the active tenants and analyses each one in an activity
(`drift.analyse_tenant`: the SQL, the tests and the stored report), at most `concurrency` at once, so a large
platform neither floods Postgres nor waits on one tenant at a time. A tenant whose analysis keeps failing is
named in the result and the others go on. When the history grows long (many tenants), the run continues as
new from the next page with its counts.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts.drift import (
        ANALYSE_TENANT_TIMEOUT,
        LIST_TENANTS_TIMEOUT,
        AnalyseTenantInput,
        AnalyseTenantResult,
        ListTenantsInput,
        ListTenantsResult,
        NightlyDriftInput,
        NightlyDriftResult,
    )
    from contracts.names import ACT_DRIFT_ANALYSE_TENANT, ACT_DRIFT_LIST_TENANTS, WF_NIGHTLY_DRIFT
    from contracts.retry import DRIFT_RETRY


@workflow.defn(name=WF_NIGHTLY_DRIFT)
class NightlyDriftWorkflow:
    @workflow.run
    async def run(self, inp: NightlyDriftInput) -> NightlyDriftResult:
        # The schedule's run starts just after midnight: "last night" is the UTC day before it started.
        night = inp.night or (workflow.now().date() - timedelta(days=1))
        done, detected, failed = inp.done, inp.detected, list(inp.failed)
        cursor = inp.cursor
        while True:
            page = await workflow.execute_activity(
                ACT_DRIFT_LIST_TENANTS,
                ListTenantsInput(cursor=cursor),
                result_type=ListTenantsResult,
                start_to_close_timeout=LIST_TENANTS_TIMEOUT,
                retry_policy=DRIFT_RETRY,
            )
            results, lost = await self._analyse(page.tenant_ids, night, inp)
            done += len(results)
            detected += sum(r.detected for r in results)
            failed += lost
            cursor = page.next_cursor
            workflow.set_current_details(f"**Drift** {night.isoformat()}: {done} tenants, {detected} with drift")
            if cursor is None:
                break
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    inp.model_copy(
                        update={"night": night, "cursor": cursor, "done": done, "detected": detected, "failed": failed}
                    )
                )
        return NightlyDriftResult(night=night, tenants=done, detected=detected, failed=failed)

    async def _analyse(
        self, tenant_ids: list[str], night: date, inp: NightlyDriftInput
    ) -> tuple[list[AnalyseTenantResult], list[str]]:
        """Every tenant of the page, `inp.concurrency` lanes pulling from one queue."""
        queue = list(tenant_ids)
        results: list[AnalyseTenantResult] = []
        failed: list[str] = []

        async def lane() -> None:
            while queue:
                tenant_id = queue.pop(0)
                try:
                    results.append(
                        await workflow.execute_activity(
                            ACT_DRIFT_ANALYSE_TENANT,
                            AnalyseTenantInput(tenant_id=tenant_id, night=night, baseline_days=inp.baseline_days),
                            result_type=AnalyseTenantResult,
                            start_to_close_timeout=ANALYSE_TENANT_TIMEOUT,
                            retry_policy=DRIFT_RETRY,
                            summary=tenant_id,
                        )
                    )
                except ActivityError:
                    # One tenant's broken data must not cost every other tenant its report.
                    failed.append(tenant_id)

        await asyncio.gather(*(lane() for _ in range(min(inp.concurrency, len(queue)))))
        return results, failed
