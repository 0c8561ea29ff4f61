"""The Temporal Schedule that runs `DrDrillWorkflow` weekly, created when a worker starts (`app/schedules.py`;
off with `AIAAS_DR_DRILL_SCHEDULE=0`). `AIAAS_DR_DRILL_CRON` sets when (UTC; Sunday 03:00 by default) for a
schedule created from then on; an existing schedule keeps the time it has (edit it in Temporal UI)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, Schedule

from app.schedules import ensure_schedule, job_schedule
from contracts.dr import DR_SCHEDULE_ID, DR_WORKFLOW_ID_PREFIX, DrDrillInput
from contracts.names import WF_DR_DRILL
from core.settings import Settings


def dr_schedule(task_queue: str, cron: str) -> Schedule:
    # One drill at a time: two would fight over disk and CPU.
    return job_schedule(
        WF_DR_DRILL,
        DrDrillInput(),
        workflow_id=DR_WORKFLOW_ID_PREFIX,
        task_queue=task_queue,
        cron=cron,
        timeout=timedelta(hours=3),
    )


async def ensure_dr_schedule(client: Client, settings: Settings) -> bool:
    """Create the weekly drill schedule unless it exists; True when this call created it."""
    schedule = dr_schedule(settings.task_queue, settings.dr_drill_cron)
    return await ensure_schedule(client, DR_SCHEDULE_ID, schedule, variable="AIAAS_DR_DRILL_SCHEDULE")
