"""The replay: walk each recorded conversation's path, ask the candidate at every model step, compare.

Only model steps are asked again. Every tool call is answered from its recorded result, so nothing touches
the world; the path walked is the recorded one, which is what makes a step comparable: the candidate sees
exactly what the recorded model saw, with the candidate's prompt, agent and tools. At each step:

    route      the candidate's router setting picks another tier than the recording
    tool | arguments | answer | error    the decision differs (`evals.replay.diff`)
    gate       the same calls, but the platform would treat them differently under the candidate
               (tool no longer listed, arguments invalid for its schema, provenance, approval now (not) asked)

After a divergence of the path (tool, arguments, gate, error) the recorded results no longer answer what the
candidate would have done, so the rest of that turn is `not_compared`; a route divergence alone (another
tier, the same decision) leaves the path as recorded and the turn goes on being compared. Later turns start
again from the recorded transcript (the customer's next message was written to the recorded answer), unless
`stop="conversation"` marks the remainder too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from contracts.agents import HANDOFF_TOOL, ResolvedAgent
from contracts.conversation import ModelCallResult
from evals.replay import context, diff, gate
from evals.replay.candidate import Candidate
from evals.replay.model import Decision, ask
from evals.replay.recorded import Conversation, ModelStep, Turn
from workflows.provenance import TurnProvenance

Stop = Literal["turn", "conversation"]
SAME, DIVERGED, NOT_COMPARED, SKIPPED = "same", "diverged", "not_compared", "skipped"
# Divergences after which the recorded results no longer answer what the candidate would do. A route alone
# (another tier, the same decision) leaves the path as recorded, so the turn is still compared.
PATH_KINDS = frozenset({"tool", "arguments", "gate", "error"})


@dataclass
class StepVerdict:
    turn: int
    step: int
    agent: str
    status: str
    kinds: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    recorded: str = ""
    candidate: str = ""
    model: str = ""
    note: str = ""
    seconds: float = 0.0


@dataclass
class HistoryVerdict:
    source: str
    workflow_id: str
    steps: list[StepVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def diverged(self) -> bool:
        return any(s.status == DIVERGED for s in self.steps)


def summary(output: ModelCallResult | Decision | None) -> str:
    if output is None:
        return ""
    if isinstance(output, Decision) and output.error:
        return f"error: {output.error[:120]}"
    calls = output.tool_calls if isinstance(output, ModelCallResult) else output.calls
    if calls:
        return "; ".join(f"{c.tool}({_args(c.arguments)})" for c in calls)
    return f"answer: {output.content[:120]!r}"


def _args(arguments: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in sorted(arguments.items()))
    return text if len(text) <= 100 else text[:97] + "..."


class _TurnState:
    """The candidate's view of the turn: its agent and its provenance record, fed the recorded results."""

    def __init__(self, turn: Turn, candidate: Candidate) -> None:
        self.candidate = candidate
        first = next((s.resolved for s in turn.steps if s.resolved is not None), None)
        agent = candidate.resolve(first) if first is not None else None
        self.provenance = (
            TurnProvenance(turn.content, agent.definition.system_prompt) if turn.provenance and agent else None
        )

    def gates(self, step: ModelStep, agent: ResolvedAgent) -> list[dict[str, str]]:
        """The calls the platform would treat otherwise under the candidate; then the recorded results are
        observed, as the workflow observes them."""
        changed = []
        for call in step.calls:
            outcome = gate.check(call.request, agent, self.provenance)
            if outcome.describe() != call.gate.describe():
                changed.append(
                    {
                        "tool": call.request.tool,
                        "recorded": call.gate.describe(),
                        "candidate": outcome.describe(),
                        "message": outcome.message or call.gate.message,
                    }
                )
            if self.provenance is not None and call.request.tool != HANDOFF_TOOL:
                self.provenance.observe(call.request, agent.tool(call.request.tool), call.result)
        return changed


async def _step(conv: Conversation, t: int, k: int, state: _TurnState) -> StepVerdict:
    step = conv.turns[t].steps[k]
    verdict = StepVerdict(turn=t, step=step.step, agent=step.inp.agent, status=SAME)
    if step.output is None or step.resolved is None:
        verdict.status, verdict.note = SKIPPED, step.note or "the recording holds no answer of this step"
        return verdict
    verdict.recorded = summary(step.output)
    agent = state.candidate.resolve(step.resolved)
    route = state.candidate.route(step.inp.route)
    if route is not None and step.inp.route is not None and route.tier != step.inp.route.tier:
        verdict.kinds.append("route")
        verdict.details["route"] = {"recorded": step.inp.route.tier, "candidate": route.tier, "p": route.p_small_pass}
    model = state.candidate.model_for(step.output, route)
    decision = await ask(model, context.messages_for(conv, t, k, agent), context.tool_schemas(agent))
    verdict.model, verdict.seconds, verdict.candidate = model, decision.seconds, summary(decision)
    found = diff.compare(step.output, decision)
    if found is not None:
        kind, detail = found
        verdict.kinds.append(kind)
        verdict.details[kind] = detail
    gates = state.gates(step, agent)
    if found is None and gates:
        verdict.kinds.append("gate")
        verdict.details["gate"] = gates
    if verdict.kinds:
        verdict.status = DIVERGED
    return verdict


async def replay_conversation(conv: Conversation, candidate: Candidate, *, stop: Stop = "turn") -> HistoryVerdict:
    result = HistoryVerdict(conv.source, conv.workflow_id, notes=list(conv.notes))
    stopped = False
    for t, turn in enumerate(conv.turns):
        state = _TurnState(turn, candidate)
        for k, step in enumerate(turn.steps):
            if stopped:
                result.steps.append(
                    StepVerdict(
                        turn=t,
                        step=step.step,
                        agent=step.inp.agent,
                        status=NOT_COMPARED,
                        recorded=summary(step.output),
                        note="after a divergence",
                    )
                )
                continue
            verdict = await _step(conv, t, k, state)
            result.steps.append(verdict)
            stopped = bool(PATH_KINDS.intersection(verdict.kinds))
        stopped = stopped and stop == "conversation"
    return result


async def replay_all(
    conversations: Iterable[Conversation], candidate: Candidate, *, stop: Stop = "turn", concurrency: int = 8
) -> list[HistoryVerdict]:
    """Every conversation, a few at once (each walks its own steps in order)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(conv: Conversation) -> HistoryVerdict:
        async with limit:
            return await replay_conversation(conv, candidate, stop=stop)

    return list(await asyncio.gather(*(one(c) for c in conversations)))
