"""The Temporal Schedule that runs `RetentionWorkflow` every day, created when a worker starts
(`app/schedules.py`; off with `AIAAS_RETENTION_SCHEDULE=0`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, Schedule

from app.schedules import ensure_schedule, job_schedule
from contracts.names import WF_RETENTION
from contracts.privacy import RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW_ID, RetentionInput

# 02:15 UTC: after the nightly drift run (00:30), which reads the previous days' transcripts.
DAILY_CRON = "15 2 * * *"


def retention_schedule(task_queue: str) -> Schedule:
    return job_schedule(
        WF_RETENTION,
        RetentionInput(),
        workflow_id=RETENTION_WORKFLOW_ID,
        task_queue=task_queue,
        cron=DAILY_CRON,
        timeout=timedelta(hours=12),
    )


async def ensure_retention_schedule(client: Client, task_queue: str) -> bool:
    """Create the daily schedule unless it exists; True when this call created it."""
    return await ensure_schedule(
        client, RETENTION_SCHEDULE_ID, retention_schedule(task_queue), variable="AIAAS_RETENTION_SCHEDULE"
    )
