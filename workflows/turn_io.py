"""How a conversation's workflow code runs its short bookkeeping activities.

Transcript rows, tool outcomes, approvals, cut notices and events are small idempotent writes to Postgres
and Redis, so they run as local activities: no round trip through the task queue, retried until a short
outage passes, but not forever. Every such call goes through `run_local`, so the options are the same
everywhere; recorded histories depend on that.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.retry import PERSISTENCE_RETRY, PERSISTENCE_START_TO_CLOSE

# Local activities may outlive a short outage of Postgres or Redis, but not forever.
PERSISTENCE_SCHEDULE_TO_CLOSE = timedelta(minutes=10)


async def run_local(activity: str, arg: object, result_type: type | None = None) -> Any:
    return await workflow.execute_local_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=PERSISTENCE_START_TO_CLOSE,
        schedule_to_close_timeout=PERSISTENCE_SCHEDULE_TO_CLOSE,
        retry_policy=PERSISTENCE_RETRY,
    )
