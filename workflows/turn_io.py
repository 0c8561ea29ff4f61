"""How a conversation's workflow code runs its short bookkeeping activities.

Transcript rows, tool outcomes, approvals, cut notices and events are small idempotent writes to Postgres
and Redis, so they run as local activities: no round trip through the task queue, retried until a short
outage passes, but not forever. Every such call goes through `run_local`, so the options are the same
everywhere; recorded histories depend on that.

The concurrent-turn slot the gateway took for a message is given back through `release_turn_lease`, or,
from the `turn-steps` patch on, with the turn's answer (`conversation.finish_turn`, `workflows.turn_calls`),
so every release is a local activity in the run's history.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from contracts.conversation import ReleaseTurnLeaseInput
    from contracts.names import ACT_RELEASE_TURN_LEASE
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


async def release_turn_lease(tenant_id: str, message_id: str) -> None:
    """Give back the slot of `message_id`; idempotent, and never a reason for the turn to fail.

    A release still failing after the retries (Redis down for minutes) is logged and dropped: the slot
    expires on its own, and the turn's answer is already recorded or still to be given. A cancellation
    while releasing is an interrupt like any other, so it reaches the caller as one.
    """
    try:
        await run_local(ACT_RELEASE_TURN_LEASE, ReleaseTurnLeaseInput(tenant_id=tenant_id, message_id=message_id))
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise asyncio.CancelledError from err
        workflow.logger.warning("turn lease not released; it expires on its own", extra={"message_id": message_id})
