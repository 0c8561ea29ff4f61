"""The merged bookkeeping steps of a turn: what runs before its first model call and what ends it.

From the `turn-steps` patch on a turn runs two local activities where it ran four or five, since they always
ran back to back: `router.prepare_turn` (the agent's resolution when the run keeps none, the early-exit
lookup, then, when nothing answered the turn, the first step's routing decision) and
`conversation.finish_turn` (the answer recorded and announced, then the concurrent-turn slot given back).
Each local activity is a marker in history and a round trip between the SDK's core and the workflow, so a
turn is shorter by two or three of each."""

from __future__ import annotations

from contracts.agents import ResolveAgentInput, ResolvedAgent
from contracts.base import Frozen
from contracts.conversation import CompleteTurnInput, CompleteTurnResult
from contracts.early_exit import EarlyExitInput, EarlyExitResult
from contracts.routing import RouteDecision, RouteInput


class PrepareTurnInput(Frozen):
    early: EarlyExitInput
    # The first step's routing input; None when the loop guard cuts the turn before its first step, when
    # only the early-exit cache may still answer it.
    route: RouteInput | None = None
    # The agent to resolve first, when the run keeps no resolution for it (`workflows.agent_cache`). The
    # agent's fields of `early` and `route` (version, tier, tools offered, canary) then come from the
    # resolution, and the first step is routed only when the loop guard, given the agent's limits and
    # `steps_total`, lets it start: the workflow checks the same guard on the same values.
    resolve: ResolveAgentInput | None = None
    steps_total: int = 0


class TurnPrepared(Frozen):
    early: EarlyExitResult
    # None when the cache answered the turn (nothing is routed) or when no route was asked for.
    route: RouteDecision | None = None
    # The resolution, when one was asked for.
    resolved: ResolvedAgent | None = None


class FinishTurnInput(Frozen):
    complete: CompleteTurnInput
    # The message whose concurrent-turn slot is given back (the lease id is the message id); "" for a turn
    # that holds none (an evaluation's).
    lease_message_id: str = ""


class FinishTurnResult(Frozen):
    completed: CompleteTurnResult
    # True: the slot was held and is free now; False: nothing was left to free (or it could not be freed).
    lease_released: bool = False
    # Redis could not be reached: the workflow gives the slot back through `conversation.release_turn_lease`,
    # whose retries outlast a short outage, without writing the answer again.
    lease_failed: bool = False


def with_agent(route: RouteInput, resolved: ResolvedAgent) -> RouteInput:
    """A step's routing input with the resolved agent's fields: the workflow and the turn's preparation fill
    them the same way, so a route decided in either reads the same input."""
    return route.model_copy(
        update={
            "default_tier": resolved.definition.default_tier.value,
            "tool_count": len(resolved.offered_tools()),
            "agent_version": resolved.agent_version,
            "agent_canary": resolved.canary,
        }
    )
