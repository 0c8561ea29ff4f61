"""What the platform does with a tool call before any tool runs, reproduced without the world.

`workflows.tool_runner.ToolRunner` checks each call in this order: the agent may call the tool, the arguments
pass the schema's top level, a write passes the turn's provenance policy, and an approval rule that applies
asks a human. The same pure functions decide here, so a candidate setting that changes a tool's schema, an
approval threshold or the tools an agent lists is seen as the platform would see it; and for a recorded call
the workflow refused (its outcome went to Postgres by a local activity, whose input history does not keep)
the refusal the model read is rebuilt from the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.agents import HANDOFF_TOOL, ResolvedAgent
from contracts.conversation import ToolCallRequest
from contracts.errors import ToolErrorType
from contracts.provenance import NOT_CONFIRMED, POLICY_REFUSED, Verdict
from contracts.tool_calls import ToolCallResult, ToolStatus
from workflows.provenance import TurnProvenance, needs_check
from workflows.tool_checks import argument_problem, refusal


@dataclass(frozen=True)
class GateOutcome:
    """`run`, `approval` (a human must say yes first), `confirm` (the customer must), or `refused`."""

    verdict: str
    error_type: str = ""
    message: str = ""

    def describe(self) -> str:
        return self.verdict if not self.error_type else f"{self.verdict}:{self.error_type}"


RUN = GateOutcome("run")


def check(call: ToolCallRequest, agent: ResolvedAgent, provenance: TurnProvenance | None) -> GateOutcome:
    if call.tool == HANDOFF_TOOL:
        target = call.arguments.get("target")
        targets = agent.definition.handoff_targets
        if not isinstance(target, str) or target not in targets:
            message = f"cannot hand off to {target!r}; possible targets: {', '.join(targets) or 'none'}"
            return GateOutcome("refused", "HandoffRefused", message)
        return RUN
    spec = agent.tool(call.tool)
    if spec is None or not spec.agent_visible:
        return GateOutcome("refused", ToolErrorType.NOT_ALLOWED, f"unknown tool {call.tool!r}")
    problem = argument_problem(spec, call.arguments)
    if problem is not None:
        return GateOutcome("refused", ToolErrorType.INPUT_INVALID, problem)
    if provenance is not None and needs_check(spec):
        decision = provenance.check(call, spec)
        if decision.verdict == Verdict.REFUSE:
            return GateOutcome("refused", POLICY_REFUSED, decision.reason[:1000])
        if decision.verdict == Verdict.CONFIRM:
            return GateOutcome("confirm", "", decision.reason[:1000])
    if spec.approval is not None and spec.approval.required(call.arguments):
        return GateOutcome("approval")
    return RUN


def refused_result(call: ToolCallRequest, outcome: GateOutcome, confirmed: bool | None = None) -> ToolCallResult:
    """The result the workflow recorded for a call that never reached its tool."""
    if outcome.verdict == "refused":
        status = ToolStatus.ERROR if outcome.error_type == ToolErrorType.INPUT_INVALID else ToolStatus.DENIED
        return refusal(call, status, outcome.error_type, outcome.message)
    if outcome.verdict == "confirm":
        how = "declined" if confirmed is False else "expired"
        return refusal(call, ToolStatus.DENIED, NOT_CONFIRMED, f"not confirmed by the customer ({how})")
    if outcome.verdict == "approval":
        return refusal(call, ToolStatus.DENIED, "NotApproved", "not approved by a human: a human denied it")
    return refusal(call, ToolStatus.ERROR, "NotRecorded", "the recording holds no result for this call")
