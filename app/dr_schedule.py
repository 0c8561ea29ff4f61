"""The Temporal Schedule that runs `DrDrillWorkflow` weekly, created when a worker starts.

Created at worker start for the reasons the drift schedule is (`app/drift_schedule.py`): idempotent, the first
worker creates it and later ones leave it as it is, so a pause or a new time set in Temporal UI survives
deploys. `AIAAS_DR_DRILL_CRON` sets when (UTC, weekly on Sunday 03:00 by default) for a schedule created
from then on; `AIAAS_DR_DRILL_SCHEDULE=false` keeps workers from creating it.
"""

from __future__ import annotations

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

from contracts.dr import DR_SCHEDULE_ID, DR_WORKFLOW_ID_PREFIX, DrDrillInput
from contracts.names import WF_DR_DRILL
from core.settings import Settings

log = structlog.get_logger("aiaas.dr")


def dr_schedule(task_queue: str, cron: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WF_DR_DRILL,
            DrDrillInput(),
            id=DR_WORKFLOW_ID_PREFIX,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=3),
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        # One drill at a time (two would fight over disk and CPU); a drill missed while the cluster was down
        # runs when it is back, within a day.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_dr_schedule(client: Client, settings: Settings) -> bool:
    """Create the drill schedule unless it exists or is switched off; True when this call created it."""
    if not settings.dr_drill_schedule:
        return False
    try:
        await client.create_schedule(DR_SCHEDULE_ID, dr_schedule(settings.task_queue, settings.dr_drill_cron))
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as exc:
        log.warning("dr drill schedule not created", schedule_id=DR_SCHEDULE_ID, error=str(exc))
        return False
    log.info("dr drill schedule created", schedule_id=DR_SCHEDULE_ID, cron=settings.dr_drill_cron)
    return True
