"""The worker process of the chaos test: the chaos workflow and a metered activity on a test task queue.

The activity meters exactly as the model activity does (`Metering.model_call` around the provider call,
the usage recorded from the provider's answer) with a deterministic usage and a short sleep in place of
the provider. Started with `python -m tests.policies.costs.chaos_worker` and the platform's environment plus
`AIAAS_CHAOS_TASK_QUEUE`; prints a line once it polls, which the test waits for.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from redis.asyncio import Redis
from temporalio import activity
from temporalio.worker import Worker

from core.events import EventBus
from core.settings import get_settings
from db.codec import connect
from db.database import Database
from policies.metering import Metering, build_metering, model_step_key
from tests.policies.costs.chaos_workflow import (
    ACT_METERED_CALL,
    CHAOS_AGENT,
    CHAOS_MODEL,
    ChaosMeteringWorkflow,
    MeteredCallInput,
)

READY_LINE = "chaos worker polling"
_HEARTBEAT_SECONDS = 0.1


def stats_key(queue: str) -> str:
    return f"tests:chaos:{queue}:stats"


class ChaosActivities:
    def __init__(self, metering: Metering, redis: Redis, stats: str) -> None:
        self._metering = metering
        self._redis = redis
        self._stats = stats

    async def _count(self, field: str) -> None:
        await self._redis.hincrby(self._stats, field, 1)
        await self._redis.expire(self._stats, 3600)

    @activity.defn(name=ACT_METERED_CALL)
    async def metered_call(self, inp: MeteredCallInput) -> None:
        info = activity.info()
        assert info.workflow_id is not None, "runs inside the chaos workflow only"
        await self._count("attempts")
        if info.attempt > 1:
            await self._count("retries")
        async with self._metering.model_call(
            tenant_id=inp.tenant_id,
            workflow_id=info.workflow_id,
            step_key=model_step_key(inp.message_id, inp.step),
            conversation_id=inp.conversation_id,
            agent=CHAOS_AGENT,
            model=CHAOS_MODEL,
            estimate_prompt_tokens=inp.prompt_tokens,
        ) as meter:
            if meter.already_settled:
                await self._count("replays_of_settled")
            elif not meter.reservation.created:
                await self._count("takeovers")
            remaining = inp.sleep_seconds
            while remaining > 0:
                activity.heartbeat()
                await asyncio.sleep(min(_HEARTBEAT_SECONDS, remaining))
                remaining -= _HEARTBEAT_SECONDS
            meter.record(inp.prompt_tokens, inp.completion_tokens)


async def main() -> None:
    settings = get_settings().require()
    queue = os.environ["AIAAS_CHAOS_TASK_QUEUE"]
    db = Database(settings.resolved_app_database_url())
    client = await connect(settings, db=db)
    redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
    metering = build_metering(db, redis, EventBus(redis), settings)
    activities = ChaosActivities(metering, redis, stats_key(queue))
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[ChaosMeteringWorkflow],
        activities=[activities.metered_call],
        # No sticky cache: after a kill, the next worker picks every workflow up at once.
        max_cached_workflows=0,
        max_concurrent_activities=100,
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with worker:
            print(READY_LINE, flush=True)
            await stop.wait()
    finally:
        await db.close()
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
