"""The Temporal Schedule that runs `RetentionWorkflow` every day, created when a worker starts.

As the drift schedule (`app/drift_schedule.py`), and for the same reasons: every deployment runs workers, and
creating is idempotent, so an operator's pause or changed time in Temporal UI survives deploys. A deployment
that does not want it sets `AIAAS_RETENTION_SCHEDULE=0` on its workers and deletes the schedule. A Temporal
that refuses the create costs a warning, never the worker.
"""

from __future__ import annotations

import os
from datetime import timedelta

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError

from contracts.names import WF_RETENTION
from contracts.privacy import RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW_ID, RetentionInput

log = structlog.get_logger("aiaas.privacy")

# 02:15 UTC: after the nightly drift run (00:30), which reads the previous days' transcripts.
DAILY_CRON = "15 2 * * *"


def schedule_wanted() -> bool:
    return os.environ.get("AIAAS_RETENTION_SCHEDULE", "1") not in ("0", "false", "no")


def retention_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WF_RETENTION,
            RetentionInput(),
            id=RETENTION_WORKFLOW_ID,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=12),
        ),
        spec=ScheduleSpec(cron_expressions=[DAILY_CRON]),
        # A day still running when the next is due is left to finish; a missed day is caught up within a day.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_retention_schedule(client: Client, task_queue: str) -> bool:
    """Create the daily schedule unless it exists; True when this call created it."""
    if not schedule_wanted():
        return False
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, retention_schedule(task_queue))
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as exc:
        log.warning("retention schedule not created", schedule_id=RETENTION_SCHEDULE_ID, error=str(exc))
        return False
    log.info("retention schedule created", schedule_id=RETENTION_SCHEDULE_ID, cron=DAILY_CRON)
    return True
