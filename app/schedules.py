"""Platform Temporal Schedules created when a worker starts: the one mechanism the nightly drift run, the daily
retention run and the weekly DR drill use.

Why at worker start, not a separate command: every deployment runs workers (`aiaas up` too), a worker is
what can run the workflow anyway, and there is then nothing extra to deploy or forget. Creating is
idempotent: the first worker creates the schedule, every later one (and every restart) finds it and leaves it
as it is, so an operator's pause or a changed time in Temporal UI survives deploys. A deployment that does not
want one sets its variable (`AIAAS_DRIFT_SCHEDULE=0`, `AIAAS_RETENTION_SCHEDULE=0`) on its workers and deletes
the schedule. A Temporal that refuses the create (a namespace without schedules, say) costs a warning, never
the worker.
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

log = structlog.get_logger("aiaas.schedules")


def job_schedule(
    workflow: str, arg: object, *, workflow_id: str, task_queue: str, cron: str, timeout: timedelta
) -> Schedule:
    """A platform job on `cron` (UTC): a run still going when the next is due is left to finish (the next is
    skipped), and a run missed while the cluster was down is caught up within a day."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow, arg, id=workflow_id, task_queue=task_queue, execution_timeout=timeout
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


def schedule_wanted(variable: str) -> bool:
    """False when `variable` turns the schedule off (`0`, `false`, `no`); on by default."""
    return os.environ.get(variable, "1") not in ("0", "false", "no")


async def ensure_schedule(client: Client, schedule_id: str, schedule: Schedule, *, variable: str) -> bool:
    """Create the schedule unless it exists or `variable` turns it off; True when this call created it."""
    if not schedule_wanted(variable):
        return False
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as exc:
        log.warning("schedule not created", schedule_id=schedule_id, error=str(exc))
        return False
    log.info("schedule created", schedule_id=schedule_id, cron=list(schedule.spec.cron_expressions))
    return True
