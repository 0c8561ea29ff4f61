"""What `evals.replay.extract` reads out of a recorded conversation: its turns, each model step with what it
was asked and answered, and each tool call of a step with its recorded result and how the workflow's checks
judged it. Plain data, compared step by step by `evals.replay.runner` against a candidate's answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agents.steps import ToolStepRow
from contracts.agents import ResolvedAgent
from contracts.conversation import ConversationInput, ModelCallInput, ModelCallResult, ToolCallRequest
from contracts.tool_calls import ToolCallResult
from evals.replay import gate
from workflows.agent_turn import CUT_ANSWER


@dataclass
class RecordedCall:
    request: ToolCallRequest
    result: ToolCallResult
    # activity | saga | handoff | workflow (decided before any tool ran, rebuilt from the checks)
    source: str
    gate: gate.GateOutcome
    call_index: int
    version: int = 1

    def row(self, step: int) -> ToolStepRow:
        r = self.result
        return ToolStepRow(
            step=step,
            call_index=self.call_index,
            call_id=self.request.call_id,
            tool=self.request.tool,
            arguments=self.request.arguments,
            status=str(r.status),
            output=r.output,
            error_type=r.error_type,
            message=r.message,
            version=self.version,
        )


@dataclass
class ModelStep:
    message_id: str
    step: int
    event_id: int
    inp: ModelCallInput
    resolved: ResolvedAgent | None
    output: ModelCallResult | None = None
    # Why there is no output to compare with (failed, cancelled, unreadable).
    note: str = ""
    calls: list[RecordedCall] = field(default_factory=list)


@dataclass
class Turn:
    message_id: str
    content: str
    steps: list[ModelStep] = field(default_factory=list)
    cut: bool = False
    provenance: bool = False

    @property
    def answer(self) -> str | None:
        if self.cut:
            return CUT_ANSWER
        last = self.steps[-1].output if self.steps else None
        return last.content if last is not None and not last.tool_calls else None


@dataclass
class Conversation:
    source: str
    workflow_id: str
    conversation: ConversationInput
    turns: list[Turn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def model_steps(self) -> int:
        return sum(len(t.steps) for t in self.turns)
