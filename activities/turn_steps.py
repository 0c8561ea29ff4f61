"""`router.prepare_turn` and `conversation.finish_turn`: a turn's bookkeeping steps that always run back to back.

Each is the two activities it replaces, called in order in one local activity (`contracts.turn_steps`), with
their guarantees unchanged:

- prepare: the agent's resolution when the run keeps none (`agents.resolve`), the early-exit lookup
  (`router.early_exit_lookup`); when the cache did not answer and the workflow asked for a route (and, after
  a resolution, the loop guard lets the first step start), the first step's routing decision
  (`router.decide`). A retry repeats them all: the resolution and the lookup only read, the decision's
  `route.decided` carries the step's dedup key.
- finish: the answer written and announced (`conversation.complete_turn`: its row keyed by the question, its
  event by a dedup key), then the concurrent-turn slot given back (`conversation.release_turn_lease`). A
  release Redis refuses does not fail the activity, which would write the answer again on its retry: the
  result says so and the workflow releases through the lone activity, with its own retries. A failure to
  write the answer fails the activity before any release, and the turn's failure path gives the slot back.
"""

from __future__ import annotations

import structlog
from redis.exceptions import RedisError
from temporalio import activity

from activities.conversation import ConversationActivities
from activities.early_exit import EarlyExitActivities
from activities.resolve_agent import AgentActivities
from activities.routing import RoutingActivities
from activities.turn_lease import TurnLeaseActivities
from contracts.agents import ResolvedAgent
from contracts.conversation import ReleaseTurnLeaseInput
from contracts.names import ACT_FINISH_TURN, ACT_PREPARE_TURN
from contracts.routing import RouteInput
from contracts.turn_steps import FinishTurnInput, FinishTurnResult, PrepareTurnInput, TurnPrepared, with_agent
from policies.loop_safety import LoopGuard

log = structlog.get_logger("aiaas.turn_steps")


def _routed(route: RouteInput | None, resolved: ResolvedAgent, steps_total: int) -> RouteInput | None:
    """The first step's routing input with the resolved agent's fields; None when the loop guard, given the
    agent's limits, cuts the turn before that step (the workflow finds the same with the same guard)."""
    if route is None or LoopGuard(resolved.definition.limits, steps_total=steps_total).before_step() is not None:
        return None
    return with_agent(route, resolved)


class TurnStepActivities:
    def __init__(
        self,
        agents: AgentActivities,
        early: EarlyExitActivities,
        routing: RoutingActivities,
        conversation: ConversationActivities,
        lease: TurnLeaseActivities,
    ) -> None:
        self._agents = agents
        self._early = early
        self._routing = routing
        self._conversation = conversation
        self._lease = lease

    @activity.defn(name=ACT_PREPARE_TURN)
    async def prepare(self, inp: PrepareTurnInput) -> TurnPrepared:
        resolved, early_in, route_in = None, inp.early, inp.route
        if inp.resolve is not None:
            resolved = await self._agents.resolve(inp.resolve)
            early_in = early_in.model_copy(update={"agent_version": resolved.agent_version})
            route_in = _routed(route_in, resolved, inp.steps_total)
        early = await self._early.lookup(early_in)
        if early.answer is not None or route_in is None:
            return TurnPrepared(early=early, resolved=resolved)
        return TurnPrepared(early=early, route=await self._routing.decide(route_in), resolved=resolved)

    @activity.defn(name=ACT_FINISH_TURN)
    async def finish(self, inp: FinishTurnInput) -> FinishTurnResult:
        completed = await self._conversation.complete_turn(inp.complete)
        if not inp.lease_message_id:
            return FinishTurnResult(completed=completed)
        lease = ReleaseTurnLeaseInput(tenant_id=inp.complete.tenant_id, message_id=inp.lease_message_id)
        try:
            released = await self._lease.release(lease)
        except (RedisError, OSError):
            log.warning("turn lease not released with the answer", tenant_id=lease.tenant_id, message=lease.message_id)
            return FinishTurnResult(completed=completed, lease_failed=True)
        return FinishTurnResult(completed=completed, lease_released=released)
