"""The Temporal Schedule that runs `NightlyDriftWorkflow` every night, created when a worker starts.

Why at worker start, not a separate command: every deployment runs workers (`aiaas up` too), a worker is
what can run the workflow anyway, and there is then nothing extra to deploy or forget. Creating is
idempotent: the first worker creates it, every later one (and every restart) finds it and leaves it as it
is, so an operator's pause or a changed time in Temporal UI survives deploys. A deployment that does not want
it sets `AIAAS_DRIFT_SCHEDULE=0` on its workers and deletes the schedule. A Temporal that refuses the create
(a namespace without schedules, say) costs a warning, never the worker.
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

from contracts.drift import DRIFT_SCHEDULE_ID, DRIFT_WORKFLOW_ID, NightlyDriftInput
from contracts.names import WF_NIGHTLY_DRIFT

log = structlog.get_logger("aiaas.drift")

# 00:30 UTC: late answers to the day's last questions (and their ledger rows) are in by then.
NIGHTLY_CRON = "30 0 * * *"


def schedule_wanted() -> bool:
    return os.environ.get("AIAAS_DRIFT_SCHEDULE", "1") not in ("0", "false", "no")


def drift_schedule(task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WF_NIGHTLY_DRIFT,
            NightlyDriftInput(),
            id=DRIFT_WORKFLOW_ID,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[NIGHTLY_CRON]),
        # A night still running when the next is due is left to finish; a missed night (the cluster was
        # down) is caught up within a day, not skipped.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_drift_schedule(client: Client, task_queue: str) -> bool:
    """Create the nightly schedule unless it exists; True when this call created it."""
    if not schedule_wanted():
        return False
    try:
        await client.create_schedule(DRIFT_SCHEDULE_ID, drift_schedule(task_queue))
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as exc:
        log.warning("drift schedule not created", schedule_id=DRIFT_SCHEDULE_ID, error=str(exc))
        return False
    log.info("drift schedule created", schedule_id=DRIFT_SCHEDULE_ID, cron=NIGHTLY_CRON)
    return True
