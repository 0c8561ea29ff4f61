"""The activities one turn of the agent loop runs (`workflows.agent_turn`), and the usage it has seen so far.

Resolving the agent, the early-exit lookup, routing, the model call, tool answers, the cut notice and the
answer each have one method here, so the loop reads as the loop. Every bookkeeping call is a local activity
(`workflows.turn_io.run_local`); the model call is an ordinary activity with its own timeouts.

From the `turn-steps` patch on, calls that always ran back to back run as one local activity each
(`contracts.turn_steps`): `prepare` (early-exit lookup, then the first step's route) and `finish` (the
answer, then the concurrent-turn slot). Runs recorded before it replay the separate calls.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.turn_io import run_local

with workflow.unsafe.imports_passed_through():
    from contracts.agents import CutReason, ResolveAgentInput, ResolvedAgent, TurnCutInput
    from contracts.conversation import (
        CompleteTurnInput,
        CompleteTurnResult,
        ConversationInput,
        ModelCallInput,
        ModelCallResult,
        QueuedMessage,
        ToolCallRequest,
    )
    from contracts.early_exit import (
        EarlyExitInput,
        EarlyExitResult,
        EarlyExitStoreInput,
        ToolAnswerInput,
        render_tool_answer,
    )
    from contracts.names import (
        ACT_COMPLETE_TURN,
        ACT_EARLY_EXIT_LOOKUP,
        ACT_EARLY_EXIT_STORE,
        ACT_FINISH_TURN,
        ACT_MODEL_COMPLETE,
        ACT_PREPARE_TURN,
        ACT_RESOLVE_AGENT,
        ACT_ROUTE_DECIDE,
        ACT_TOOL_ANSWER,
        ACT_TURN_CUT,
    )
    from contracts.retry import MODEL_CALL_HEARTBEAT, MODEL_CALL_RETRY, MODEL_CALL_START_TO_CLOSE
    from contracts.routing import RouteDecision, RouteInput
    from contracts.tool_calls import ToolCallResult, ToolStatus
    from contracts.turn_steps import FinishTurnInput, FinishTurnResult, PrepareTurnInput, TurnPrepared, with_agent

# An interrupt cuts the turn at once, whether or not the model call has noticed yet. The call learns of the
# cancellation from its next heartbeat's answer and stops streaming (its reservation refunded, or its tokens
# billed if it finished first); the conversation does not wait for that: it announces the interrupted turn
# and answers the newer message. Waiting for the confirmation would leave an interrupt at the mercy of one
# heartbeat round trip, and a call that missed it would stream to the end while the newer message queued.
MODEL_CALL_CANCELLATION = workflow.ActivityCancellationType.TRY_CANCEL
# From this patch on the early-exit lookup and the first route run as one local activity, and the answer and
# the slot's release as another (`contracts.turn_steps`).
TURN_STEPS_PATCH = "turn-steps"


def visible_tools(resolved: ResolvedAgent) -> list[str]:
    """What the model may call this step: the agent's visible tools, and the handoff when it has targets."""
    return resolved.offered_tools()


def tool_answer(agent: ResolvedAgent, outcomes: list[tuple[ToolCallRequest, ToolCallResult]]) -> str | None:
    """The step's answer without a model: its one call succeeded and the tool renders its output itself."""
    if len(outcomes) != 1:
        return None
    call, result = outcomes[0]
    spec = agent.tool(call.tool)
    if spec is None or not spec.answer_template or result.status != ToolStatus.OK:
        return None
    return render_tool_answer(spec.answer_template, result.output)


class TurnCalls:
    def __init__(self, inp: ConversationInput, message: QueuedMessage) -> None:
        self._inp = inp
        self._msg = message
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.model = ""

    async def resolve(self, agent: str) -> ResolvedAgent:
        resolved: ResolvedAgent = await run_local(
            ACT_RESOLVE_AGENT,
            # The conversation decides whether an agent-version canary's share resolves its candidate version.
            ResolveAgentInput(tenant_id=self._inp.tenant_id, agent=agent, conversation_id=self._inp.conversation_id),
            ResolvedAgent,
        )
        return resolved

    def _early_input(self, agent: str, resolved: ResolvedAgent | None) -> EarlyExitInput:
        return EarlyExitInput(
            tenant_id=self._inp.tenant_id,
            conversation_id=self._inp.conversation_id,
            message_id=self._msg.message_id,
            agent=agent,
            agent_version=resolved.agent_version if resolved is not None else 0,
        )

    def route_input(self, agent: str, resolved: ResolvedAgent | None, step: int) -> RouteInput:
        """The step's routing input; without a resolution, the agent's fields are the preparation's to fill."""
        route = RouteInput(
            tenant_id=self._inp.tenant_id,
            conversation_id=self._inp.conversation_id,
            message_id=self._msg.message_id,
            agent=agent,
            step=step,
            depth=self._inp.turns_completed,
        )
        if resolved is None:
            return route
        return with_agent(route, resolved)

    async def early_exit(self, agent: str, resolved: ResolvedAgent) -> EarlyExitResult:
        result: EarlyExitResult = await run_local(
            ACT_EARLY_EXIT_LOOKUP, self._early_input(agent, resolved), EarlyExitResult
        )
        return result

    async def route(self, route: RouteInput) -> RouteDecision:
        decision: RouteDecision = await run_local(ACT_ROUTE_DECIDE, route, RouteDecision)
        return decision

    async def prepare(
        self, agent: str, resolved: ResolvedAgent | None, route: RouteInput | None, *, steps_total: int = 0
    ) -> TurnPrepared:
        """The early-exit lookup and, unless the cache answers, the first step's route (`route`, if any);
        without `resolved`, the agent's resolution first (`steps_total` for the loop guard's first check)."""
        resolve = None
        if resolved is None:
            resolve = ResolveAgentInput(
                tenant_id=self._inp.tenant_id, agent=agent, conversation_id=self._inp.conversation_id
            )
        inp = PrepareTurnInput(
            early=self._early_input(agent, resolved), route=route, resolve=resolve, steps_total=steps_total
        )
        prepared: TurnPrepared = await run_local(ACT_PREPARE_TURN, inp, TurnPrepared)
        return prepared

    async def model_call(
        self,
        agent: str,
        resolved: ResolvedAgent,
        step: int,
        tools: list[str],
        spotlight: str,
        route: RouteDecision | None,
    ) -> ModelCallResult:
        answer = await workflow.execute_activity(
            ACT_MODEL_COMPLETE,
            ModelCallInput(
                tenant_id=self._inp.tenant_id,
                conversation_id=self._inp.conversation_id,
                message_id=self._msg.message_id,
                agent=agent,
                tier=resolved.definition.default_tier,
                agent_version=resolved.agent_version,
                step=step,
                tools=tools,
                spotlight=spotlight,
                route=route,
            ),
            result_type=ModelCallResult,
            start_to_close_timeout=MODEL_CALL_START_TO_CLOSE,
            heartbeat_timeout=MODEL_CALL_HEARTBEAT,
            retry_policy=MODEL_CALL_RETRY,
            cancellation_type=MODEL_CALL_CANCELLATION,
        )
        self.prompt_tokens += answer.prompt_tokens
        self.completion_tokens += answer.completion_tokens
        self.model = answer.model
        return answer

    async def announce_tool_answer(self, step: int, tool: str, rendered: str) -> None:
        await run_local(
            ACT_TOOL_ANSWER,
            ToolAnswerInput(
                tenant_id=self._inp.tenant_id,
                conversation_id=self._inp.conversation_id,
                message_id=self._msg.message_id,
                step=step,
                tool=tool,
                answer=rendered,
            ),
        )

    async def keep_answer(self, key: str, answer: ModelCallResult) -> None:
        await run_local(
            ACT_EARLY_EXIT_STORE,
            EarlyExitStoreInput(tenant_id=self._inp.tenant_id, key=key, answer=answer.content, model=answer.model),
        )

    async def cut_notice(self, reason: CutReason, detail: str, steps: int) -> None:
        await run_local(
            ACT_TURN_CUT,
            TurnCutInput(
                tenant_id=self._inp.tenant_id,
                conversation_id=self._inp.conversation_id,
                message_id=self._msg.message_id,
                reason=reason,
                detail=detail[:1000],
                steps=steps,
            ),
        )

    def _answer(self, content: str, agent: str, model: str | None) -> CompleteTurnInput:
        return CompleteTurnInput(
            tenant_id=self._inp.tenant_id,
            conversation_id=self._inp.conversation_id,
            reply_to=self._msg.message_id,
            content=content,
            model=model or self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            agent=agent,
        )

    async def complete(self, content: str, agent: str, model: str | None) -> None:
        await run_local(ACT_COMPLETE_TURN, self._answer(content, agent, model), CompleteTurnResult)

    async def finish(self, content: str, agent: str, model: str | None, *, lease: bool) -> bool:
        """Record the answer and, when the turn holds one, give its slot back; True when the slot is back
        (or was already), False when the caller must still release it (Redis refused)."""
        lease_id = self._msg.message_id if lease else ""
        result: FinishTurnResult = await run_local(
            ACT_FINISH_TURN,
            FinishTurnInput(complete=self._answer(content, agent, model), lease_message_id=lease_id),
            FinishTurnResult,
        )
        return lease and not result.lease_failed
