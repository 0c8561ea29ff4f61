"""The job of the noisy-neighbour benchmark: a workflow running one short activity, in a module light enough
for the workflow sandbox to import per run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow

WORK_SECONDS = 0.02


@activity.defn(name="bench.fair_work")
async def fair_work(tenant: str) -> float:
    """Sleeps like a short model call; returns how long the task waited in the queue, in seconds."""
    scheduled = activity.info().current_attempt_scheduled_time
    waited = (datetime.now(UTC) - scheduled).total_seconds()
    await asyncio.sleep(WORK_SECONDS)
    return waited


@workflow.defn(name="BenchFairJob")
class FairJob:
    @workflow.run
    async def run(self, tenant: str) -> float:
        return await workflow.execute_activity(fair_work, tenant, start_to_close_timeout=timedelta(seconds=60))
