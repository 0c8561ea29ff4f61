"""The Temporal Schedule that runs `NightlyDriftWorkflow` every night, created when a worker starts
(`app/schedules.py`; off with `AIAAS_DRIFT_SCHEDULE=0`)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, Schedule

from app.schedules import ensure_schedule, job_schedule
from contracts.drift import DRIFT_SCHEDULE_ID, DRIFT_WORKFLOW_ID, NightlyDriftInput
from contracts.names import WF_NIGHTLY_DRIFT

# 00:30 UTC: late answers to the day's last questions (and their ledger rows) are in by then.
NIGHTLY_CRON = "30 0 * * *"


def drift_schedule(task_queue: str) -> Schedule:
    return job_schedule(
        WF_NIGHTLY_DRIFT,
        NightlyDriftInput(),
        workflow_id=DRIFT_WORKFLOW_ID,
        task_queue=task_queue,
        cron=NIGHTLY_CRON,
        timeout=timedelta(hours=6),
    )


async def ensure_drift_schedule(client: Client, task_queue: str) -> bool:
    """Create the nightly schedule unless it exists; True when this call created it."""
    return await ensure_schedule(client, DRIFT_SCHEDULE_ID, drift_schedule(task_queue), variable="AIAAS_DRIFT_SCHEDULE")
