"""The job of the noisy-neighbour benchmark: a workflow running one short activity, in a module light enough
for the workflow sandbox to import per run.

The job reports where it waited, in seconds: for its first workflow task (start -> task started), for its
activity (scheduled -> started) and for the workflow task that follows the activity (activity finished ->
task started; on the worker's sticky queue while the run stays cached).
The client and the worker share the machine's clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow

WORK_SECONDS = 0.02


@activity.defn(name="bench.fair_work")
async def fair_work(tenant: str) -> list[float]:
    """Sleeps like a short model call; returns how long the task waited in the queue and when it finished."""
    scheduled = activity.info().current_attempt_scheduled_time
    waited = (datetime.now(UTC) - scheduled).total_seconds()
    await asyncio.sleep(WORK_SECONDS)
    return [waited, datetime.now(UTC).timestamp()]


@workflow.defn(name="BenchFairJob")
class FairJob:
    @workflow.run
    async def run(self, tenant: str, submitted: float = 0.0) -> list[float]:
        # `submitted`: the client's clock when it started the job (same machine); the task's start is now().
        first_task = max(0.0, workflow.now().timestamp() - submitted) if submitted else 0.0
        waited, finished = await workflow.execute_activity(
            fair_work, tenant, start_to_close_timeout=timedelta(seconds=60)
        )
        return [first_task, waited, max(0.0, workflow.now().timestamp() - finished)]
