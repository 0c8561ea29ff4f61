"""The agent loop of one conversation turn, run by `ConversationWorkflow`.

    resolve the agent -> [guard -> model call -> guard (usage) -> tool calls -> guard (progress)]* -> answer

The agent is resolved by an activity, so the definition and the tools it may call are in history and a
replay never depends on what changed since. Each step, the model sees the tools the agent may call (plus
`agents.handoff` when it has handoff targets) and the results of the turn's earlier calls, which it reads
from Postgres by reference. A step without tool calls is the final answer. Tool calls are checked and run
by `ToolRunner`; a handoff switches the agent, and the loop limits with it, for the rest of the turn and the
conversation.

Runs from the `provenance-policy` patch on keep the turn's provenance (`workflows.provenance`): every write
the model proposes is checked against what the customer asked for before it runs, and untrusted text reaches
the model between random per-turn delimiters (`ModelCallInput.spotlight`).

`LoopGuard` bounds the loop: step ceilings before each step, token and cost ceilings after each model call,
no-progress and oscillation after each step. A cut is announced, counted and handed to a human through an
escalation ticket (`conversation.turn_cut`), and the customer gets a fixed, honest answer instead of silence.

The activities the loop runs are `workflows.turn_calls`'; from its `turn-steps` patch on, the early-exit
lookup and the first step's route are one local activity, and so are the answer and the release of the
turn's concurrent-turn slot (`lease_released` tells the conversation it need not release it again).
"""

from __future__ import annotations

import re

from temporalio import workflow
from temporalio.exceptions import ActivityError, is_cancelled_exception

from workflows.agent_cache import AgentCache
from workflows.approval_gate import ApprovalGate
from workflows.confirmation_gate import ConfirmationGate
from workflows.provenance import PROVENANCE_PATCH, TurnProvenance
from workflows.tool_checks import refusal
from workflows.tool_runner import Protection, ToolRunner, TurnScope
from workflows.turn_calls import TURN_STEPS_PATCH, TurnCalls, tool_answer, visible_tools
from workflows.turn_io import run_local

with workflow.unsafe.imports_passed_through():
    from contracts.agents import HANDOFF_TOOL, CutReason, PublishEventInput, ResolvedAgent
    from contracts.conversation import ConversationInput, ModelCallResult, QueuedMessage, ToolCallRequest
    from contracts.early_exit import EARLY_EXIT_MODEL, TOOL_ANSWER_MODEL, EarlyExitResult
    from contracts.events import EventType
    from contracts.names import ACT_PUBLISH_EVENT
    from contracts.routing import RouteDecision
    from contracts.search_attributes import AGENT
    from contracts.tool_calls import ToolCallResult, ToolStatus
    from contracts.turn_steps import TurnPrepared
    from policies.loop_safety import LoopGuard

# What the customer reads when the loop is cut: no pretence of an answer, and a person will follow up.
CUT_ANSWER = (
    "I'm sorry, I could not finish this request on my own. I have passed it to a colleague, "
    "who will follow up with you shortly."
)
CUT_MODEL = "loop-guard"
# A model asking for more calls than this in one step is not making a plan; the rest are refused.
MAX_CALLS_PER_STEP = 16
# Runs recorded before model routing call the tier's model directly; from this patch on each model call is
# routed first (`router.decide`, a local activity) and the call carries the decision.
ROUTER_PATCH = "router-v2"
# From this patch on a turn first asks the early-exit cache (`router.early_exit_lookup`, a local activity):
# an exact repeat of a recent first question, agent and knowledge unchanged, is answered without a model call.
EARLY_EXIT_PATCH = "early-exit"
# From this patch on, for a tenant with early exit on, a step that is one successful call of a tool with an
# `answer_template` ends the turn with the rendered output (`router.tool_answer` announces it): no model call.
TOOL_ANSWER_PATCH = "tool-answer"


# A model's call id keys the turn's rows and child workflows, so it must be short and plain.
_CALL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class AgentTurn:
    """One turn; `agent` and `steps_total` are read back by the workflow even when the turn is interrupted,
    `lease_released` once it answered (the turn gave its concurrent-turn slot back with the answer)."""

    def __init__(
        self,
        inp: ConversationInput,
        message: QueuedMessage,
        *,
        agent: str,
        steps_total: int,
        gate: ApprovalGate,
        confirmations: ConfirmationGate | None = None,
        agents: AgentCache | None = None,
        owns_lease: bool = False,
    ) -> None:
        self.agent = agent
        self.steps_total = steps_total
        self.lease_released = False
        self._inp = inp
        self._msg = message
        self._gate = gate
        self._call_ids: set[str] = set()
        self._calls = TurnCalls(inp, message)
        self._confirmations = confirmations or ConfirmationGate()
        self._protection: Protection | None = None
        self._spotlight = ""
        self._agents = agents or AgentCache()
        # The gateway took a concurrent-turn slot for the message (a conversation's turn; not an evaluation's).
        self._owns_lease = owns_lease
        self._merged = False

    async def run(self) -> None:
        self._merged = workflow.patched(TURN_STEPS_PATCH)
        prepared, resolved = await self._turn_agent()
        if workflow.patched(PROVENANCE_PATCH):
            # What the customer wrote and the agent's definition are the turn's trusted origins; the marker
            # around untrusted text is drawn now, after every tool output it will wrap was written.
            provenance = TurnProvenance(self._msg.content, resolved.definition.system_prompt)
            self._protection = Protection(provenance=provenance, confirmations=self._confirmations)
            self._spotlight = workflow.uuid4().hex
        guard = LoopGuard(resolved.definition.limits, steps_total=self.steps_total)
        early, route = EarlyExitResult(), None
        if self._merged:
            # The first step's guard is checked before the lookup, so the step's route can come with it; a
            # turn the cache answers takes no step. A preparation that resolved the agent checked the same.
            cut = guard.before_step()
            if prepared is None:
                wanted = self._calls.route_input(self.agent, resolved, 0) if cut is None else None
                prepared = await self._calls.prepare(self.agent, resolved, wanted)
            early, route = prepared.early, prepared.route
            if early.answer is not None:
                return await self._complete(early.answer, model=EARLY_EXIT_MODEL)
            self.steps_total = guard.steps_total
            if cut is not None:
                return await self._cut(cut, guard)
        elif workflow.patched(EARLY_EXIT_PATCH):
            early = await self._calls.early_exit(self.agent, resolved)
            if early.answer is not None:
                return await self._complete(early.answer, model=EARLY_EXIT_MODEL)
        step, checked = 0, self._merged
        while True:
            if not checked:
                cut = guard.before_step()
                self.steps_total = guard.steps_total
                if cut is not None:
                    return await self._cut(cut, guard)
            answer = await self._call_model(resolved, step, route)
            route, checked = None, False
            cut = guard.add_usage(answer.prompt_tokens + answer.completion_tokens, answer.cost_usd)
            if not answer.tool_calls:
                # The answer is already paid for: a ceiling crossed by the final answer does not withhold it.
                if early.key and step == 0:
                    # Answered without any tool call: a repeat of the question may have this answer, from the
                    # moment this one is announced.
                    await self._calls.keep_answer(early.key, answer)
                return await self._complete(answer.content)
            if cut is not None:
                return await self._cut(cut, guard)
            before = resolved
            resolved, outcomes = await self._run_step(resolved, step, self._checked_ids(step, answer.tool_calls))
            rendered = tool_answer(before, outcomes) if early.opted_in else None
            if rendered is not None and workflow.patched(TOOL_ANSWER_PATCH):
                await self._calls.announce_tool_answer(step, outcomes[0][0].tool, rendered)
                return await self._complete(rendered, model=TOOL_ANSWER_MODEL)
            if resolved is not before:
                guard.adopt(resolved.definition.limits)
            cut = guard.after_step(
                [(call.tool, call.arguments, result.state_hash) for call, result in outcomes],
                failed=all(result.status != ToolStatus.OK for _, result in outcomes),
            )
            if cut is not None:
                return await self._cut(cut, guard)
            step += 1

    # ---- steps ----------------------------------------------------------------------------------------

    def _scope(self) -> TurnScope:
        return TurnScope(
            tenant_id=self._inp.tenant_id,
            conversation_id=self._inp.conversation_id,
            message_id=self._msg.message_id,
            customer_id=self._inp.customer_id,
            workflow_id=workflow.info().workflow_id,
            agent=self.agent,
        )

    def _checked_ids(self, step: int, calls: list[ToolCallRequest]) -> list[ToolCallRequest]:
        """Call ids key the turn's rows and child workflows: a missing, odd or repeated one is replaced."""
        checked = []
        for index, call in enumerate(calls):
            call_id = call.call_id
            if not _CALL_ID.fullmatch(call_id) or call_id in self._call_ids:
                call_id = f"call-{step}-{index}"
                while call_id in self._call_ids:
                    call_id += "-r"
            self._call_ids.add(call_id)
            checked.append(call if call_id == call.call_id else call.model_copy(update={"call_id": call_id}))
        return checked

    async def _run_step(
        self, resolved: ResolvedAgent, step: int, calls: list[ToolCallRequest]
    ) -> tuple[ResolvedAgent, list[tuple[ToolCallRequest, ToolCallResult]]]:
        """Run the step's tool calls, then at most one handoff; the agent that answers the next step."""
        runner = ToolRunner(self._scope(), resolved, self._gate, self._protection)
        allowed, excess = calls[:MAX_CALLS_PER_STEP], calls[MAX_CALLS_PER_STEP:]
        tools = [c for c in allowed if c.tool != HANDOFF_TOOL]
        handoffs = [c for c in allowed if c.tool == HANDOFF_TOOL]
        outcomes = list(zip(tools, await runner.run_step(step, tools), strict=True))
        index = len(tools)
        for call in handoffs:
            if index > len(tools):
                result = refusal(call, ToolStatus.DENIED, "HandoffRefused", "only one handoff per step")
            else:
                resolved, result = await self._handoff(resolved, step, call)
            await runner.record(step, index, call, result)
            outcomes.append((call, result))
            index += 1
        for call in excess:
            result = refusal(call, ToolStatus.DENIED, "TooManyCalls", f"at most {MAX_CALLS_PER_STEP} calls per step")
            await runner.record(step, index, call, result)
            outcomes.append((call, result))
            index += 1
        return resolved, outcomes

    async def _handoff(
        self, resolved: ResolvedAgent, step: int, call: ToolCallRequest
    ) -> tuple[ResolvedAgent, ToolCallResult]:
        target = call.arguments.get("target")
        targets = resolved.definition.handoff_targets
        if not isinstance(target, str) or target not in targets:
            message = f"cannot hand off to {target!r}; possible targets: {', '.join(targets) or 'none'}"
            return resolved, refusal(call, ToolStatus.DENIED, "HandoffRefused", message)
        try:
            switched = await self._calls.resolve(target)
        except ActivityError as err:
            if is_cancelled_exception(err):
                raise
            return resolved, refusal(call, ToolStatus.ERROR, "AgentNotFound", f"agent {target!r} is not available")
        previous, self.agent = self.agent, target
        if workflow.info().typed_search_attributes.get(AGENT) is not None:
            # Operators filter runs by the agent answering now, not the one the conversation started with.
            workflow.upsert_search_attributes([AGENT.value_set(target)])
        reason = call.arguments.get("reason")
        await run_local(
            ACT_PUBLISH_EVENT,
            PublishEventInput(
                tenant_id=self._inp.tenant_id,
                conversation_id=self._inp.conversation_id,
                type=EventType.AGENT_HANDOFF,
                data={
                    "message_id": self._msg.message_id,
                    "from": previous,
                    "to": target,
                    "reason": reason[:500] if isinstance(reason, str) else "",
                },
                dedup_key=f"{self._msg.message_id}:handoff:{step}",
            ),
        )
        ok = ToolCallResult(call_id=call.call_id, tool=HANDOFF_TOOL, status=ToolStatus.OK, output={"agent": target})
        return switched, ok

    # ---- the agent, routing and the answer ----------------------------------------------------------

    async def _turn_agent(self) -> tuple[TurnPrepared | None, ResolvedAgent]:
        """The run's kept resolution while the message's agent stamp matches it (`workflows.agent_cache`), else
        a new one: from the `turn-steps` patch on resolved in the turn's preparation, which it returns."""
        stamp = self._msg.agent_stamp
        kept = self._agents.get(self.agent, stamp)
        if kept is not None:
            return None, kept
        prepared = None
        if self._merged:
            prepared = await self._calls.prepare(
                self.agent, None, self._calls.route_input(self.agent, None, 0), steps_total=self.steps_total
            )
            if prepared.resolved is not None:
                self._agents.put(self.agent, stamp, prepared.resolved)
                return prepared, prepared.resolved
            prepared = None  # not reached: a preparation asked to resolve returns the resolution
        resolved = await self._calls.resolve(self.agent)
        self._agents.put(self.agent, stamp, resolved)
        return prepared, resolved

    async def _call_model(
        self, resolved: ResolvedAgent, step: int, route: RouteDecision | None = None
    ) -> ModelCallResult:
        """The step's model call, routed first (`route`: already decided by the turn's preparation)."""
        tools = visible_tools(resolved)
        if route is None and (self._merged or workflow.patched(ROUTER_PATCH)):
            route = await self._calls.route(self._calls.route_input(self.agent, resolved, step))
        return await self._calls.model_call(self.agent, resolved, step, tools, self._spotlight, route)

    async def _cut(self, reason: CutReason, guard: LoopGuard) -> None:
        await self._calls.cut_notice(reason, guard.detail, guard.steps_this_turn)
        await self._complete(CUT_ANSWER, model=self._calls.model or CUT_MODEL)

    async def _complete(self, content: str, *, model: str | None = None) -> None:
        if self._merged:
            self.lease_released = await self._calls.finish(content, self.agent, model, lease=self._owns_lease)
        else:
            await self._calls.complete(content, self.agent, model)
