"""The `conversation.release_turn_lease` activity: a turn gives back the concurrent-turn slot of its message.

The gateway takes the slot when it admits a message (`policies.concurrency`, the lease id is the message id)
and the model activity renews it while the turn works. Giving it back is the workflow's decision, made in
one place and visible in the run's history: when the turn ends, however it ends, when a message is superseded
before its turn starts, and when the turn starts waiting for a person, who may take a day and holds no worker
meanwhile. Persistence activities no longer free it as a side effect, so a retried or replayed write cannot
release a slot the turn still needs.

Releasing is idempotent: a slot already given back, or one that expired because nobody renewed it, is left
as it is and reported as not held. A Redis error is raised for the local activity's retry policy; the
workflow never lets a release that keeps failing fail the turn, since the slot expires on its own.
"""

from __future__ import annotations

import structlog
from redis.asyncio import Redis
from temporalio import activity

from contracts.conversation import ReleaseTurnLeaseInput
from contracts.names import ACT_RELEASE_TURN_LEASE
from policies.concurrency import release_turn_lease

log = structlog.get_logger("aiaas.turn_lease")


class TurnLeaseActivities:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @activity.defn(name=ACT_RELEASE_TURN_LEASE)
    async def release(self, inp: ReleaseTurnLeaseInput) -> bool:
        """True when the slot was held and is now free; False when there was nothing left to free."""
        released = await release_turn_lease(self._redis, inp.tenant_id, inp.message_id)
        if not released:
            # Normal at the end of a turn that waited for a person, or for a message not admitted by the
            # gateway; otherwise the turn outlived its lease, and the tenant's limit stopped counting it.
            log.debug("turn lease already free", tenant_id=inp.tenant_id, message_id=inp.message_id)
        return released
