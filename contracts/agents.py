"""The agent runtime's contracts: tool specs, agent definitions, approvals and loop cuts (a tool call's
input and result are `contracts.tool_calls`).

These types cross the Temporal boundary (pydantic data converter) and are loaded inside the workflow
sandbox, so they import nothing with side effects and change by adding fields with defaults only. A tool's
*implementation* lives in `activities/tools/`; what a workflow needs to call it (timeouts, retries, effect,
approval rule, compensation) is this data, resolved by an activity at the start of each turn and so recorded
in history: a replay never depends on code that changed since.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field
from temporalio.common import RetryPolicy

from contracts.base import Frozen
from contracts.conversation import Tier
from contracts.errors import NON_RETRYABLE_TOOL_ERRORS, type_names
from contracts.events import EventType
from contracts.provenance import Origin, ToolPolicy

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}(\.[a-z][a-z0-9_]{0,30}){1,2}$")
AGENT_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
# Tool names are dotted (`orders.refund`); model function names may not contain dots.
_FUNCTION_SEPARATOR = "__"


class Effect(StrEnum):
    """What a tool does to the world; decides idempotency handling, safe mode and compensation."""

    READ = "read"
    WRITE = "write"
    IRREVERSIBLE = "irreversible"


class RetrySpec(Frozen):
    max_attempts: int = Field(default=3, ge=1, le=20)
    initial_interval_seconds: float = Field(default=1.0, gt=0)
    backoff: float = Field(default=2.0, ge=1.0)
    max_interval_seconds: float = Field(default=30.0, gt=0)
    non_retryable: list[str] = Field(default_factory=list)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            initial_interval=timedelta(seconds=self.initial_interval_seconds),
            backoff_coefficient=self.backoff,
            maximum_interval=timedelta(seconds=self.max_interval_seconds),
            maximum_attempts=self.max_attempts,
            non_retryable_error_types=[*type_names(NON_RETRYABLE_TOOL_ERRORS), *self.non_retryable],
        )


class ApprovalRule(Frozen):
    """When a call needs a human's yes: always, or when a numeric argument is above a threshold."""

    always: bool = False
    argument: str | None = None
    above: float | None = None
    timeout_seconds: float = Field(default=24 * 3600.0, gt=0)

    def required(self, arguments: dict[str, Any]) -> bool:
        if self.always:
            return True
        if self.argument is None or self.above is None:
            return False
        value = arguments.get(self.argument)
        if isinstance(value, bool) or not isinstance(value, int | float):
            # A missing or non-numeric amount cannot prove it is small: ask.
            return True
        return float(value) > self.above


class ToolSpec(Frozen):
    name: str = Field(pattern=TOOL_NAME.pattern)
    version: int = Field(default=1, ge=1)
    description: str
    effect: Effect
    input_schema: dict[str, Any] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=30.0, gt=0)
    heartbeat_seconds: float | None = None
    retry: RetrySpec = Field(default_factory=RetrySpec)
    # Activity name of the tool that undoes this one inside a saga (e.g. `tools.inventory.release.v1`).
    compensation: str | None = None
    approval: ApprovalRule | None = None
    # A tool that is a saga runs as this child workflow instead of a single activity.
    saga: str | None = None
    # Bulkhead: at most this many calls of this tool run at once for one tenant.
    max_concurrent: int = Field(default=8, ge=1)
    # Tools that only sagas call (reserve stock, charge) are hidden from models.
    agent_visible: bool = True
    # Estimated cost of one call, reserved by CostGuard before the call; expensive tools are refused in
    # safe mode.
    cost_usd: float = Field(default=0.0, ge=0)
    # When a model may call it, judged by where the call's intent and targets come from (None: reads run
    # freely; a write falls back to `workflows.provenance.default_policy`).
    policy: ToolPolicy | None = None
    # The origin of what the tool returns: a knowledge search declares `Origin.KNOWLEDGE`.
    origin: Origin = Origin.TOOL_RESULT
    # The tool's output renders to a complete answer (`{field}` of its top-level fields, see
    # `contracts.early_exit.render_tool_answer`): for a tenant with early exit on, a step that is this tool's
    # one successful call answers with it, without another model call. None: the model always answers.
    answer_template: str | None = Field(default=None, max_length=500)

    @property
    def activity_name(self) -> str:
        return tool_activity_name(self.name, self.version)

    @property
    def function_name(self) -> str:
        return function_name(self.name)

    def model_schema(self) -> dict[str, Any]:
        """The OpenAI-style function declaration the model sees."""
        return {
            "type": "function",
            "function": {
                "name": self.function_name,
                "description": self.description,
                "parameters": self.input_schema or {"type": "object", "properties": {}},
            },
        }


def tool_activity_name(name: str, version: int) -> str:
    return f"tools.{name}.v{version}"


def function_name(tool_name: str) -> str:
    return tool_name.replace(".", _FUNCTION_SEPARATOR)


def tool_name_from_function(name: str) -> str:
    return name.replace(_FUNCTION_SEPARATOR, ".")


class LoopLimits(Frozen):
    max_steps_per_turn: int = Field(default=8, ge=1, le=100)
    max_steps_per_conversation: int = Field(default=200, ge=1)
    # The same (tool, arguments, result) seen this many times in one turn is no progress.
    no_progress_repeats: int = Field(default=3, ge=2)
    # A cycle of states of length 2..window/2 repeated twice in the last `window` steps is oscillation.
    oscillation_window: int = Field(default=8, ge=4)
    max_tokens_per_turn: int = Field(default=32_000, ge=1)
    max_cost_usd_per_turn: float = Field(default=0.50, gt=0)


class AgentDefinition(Frozen):
    name: str = Field(pattern=AGENT_NAME)
    version: int = Field(default=1, ge=1)
    description: str = ""
    system_prompt: str = Field(min_length=1, max_length=8000)
    # Tool names (latest version) or `name@version` pins.
    tools: list[str] = Field(default_factory=list, max_length=64)
    default_tier: Tier = Tier.SMALL
    handoff_targets: list[str] = Field(default_factory=list, max_length=16)
    limits: LoopLimits = Field(default_factory=LoopLimits)


class ResolveAgentInput(Frozen):
    tenant_id: str
    agent: str
    # In an agent-version canary's share, the conversation resolves the canary's version (empty: never).
    conversation_id: str = ""


class ResolvedAgent(Frozen):
    definition: AgentDefinition
    # The tools this agent may call for this tenant now: enabled for the tenant and listed by the agent.
    tools: list[ToolSpec] = Field(default_factory=list)
    # The stored version resolved: the tenant's version (>= 1), or 0 for a shipped or operator default. The
    # model activity reads the definition again by (tenant, name, this) through `ModelCallInput.agent_version`.
    agent_version: int = Field(default=0, ge=0)
    # An agent-version canary chose `agent_version` for this conversation instead of the active version.
    canary: bool = False

    def tool(self, name: str) -> ToolSpec | None:
        return next((spec for spec in self.tools if spec.name == name), None)

    def offered_tools(self) -> list[str]:
        """What the model may call: the visible tools' activity names, and the handoff when it has targets."""
        tools = [spec.activity_name for spec in self.tools if spec.agent_visible]
        if self.definition.handoff_targets:
            tools.append(HANDOFF_TOOL)
        return tools


# ---- human approval -----------------------------------------------------------------------------------


class ApprovalDecisionKind(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


class ApprovalDecision(Frozen):
    """The `decide_approval` update: sent by the gateway after it has checked the member's permission."""

    approval_id: str = Field(min_length=1, max_length=64)
    decision: ApprovalDecisionKind
    note: str = Field(default="", max_length=1000)
    decided_by: str = Field(default="", max_length=200)


class ApprovalRecordInput(Frozen):
    """Persists and announces an approval request (status pending) or its resolution."""

    tenant_id: str
    conversation_id: str
    approval_id: str
    message_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    status: ApprovalStatus
    note: str = ""
    decided_by: str = ""
    timeout_seconds: float = 0.0


# ---- loop safety --------------------------------------------------------------------------------------


class CutReason(StrEnum):
    MAX_STEPS_TURN = "max_steps_turn"
    MAX_STEPS_CONVERSATION = "max_steps_conversation"
    NO_PROGRESS = "no_progress"
    OSCILLATION = "oscillation"
    TOKEN_CEILING = "token_ceiling"
    COST_CEILING = "cost_ceiling"


class TurnCutInput(Frozen):
    tenant_id: str
    conversation_id: str
    message_id: str
    reason: CutReason
    detail: str = ""
    steps: int = 0


class PublishEventInput(Frozen):
    """A workflow-decided event (handoff, saga progress) published with a dedup key."""

    tenant_id: str
    conversation_id: str
    type: EventType
    data: dict[str, Any] = Field(default_factory=dict)
    dedup_key: str = ""


# The pseudo-tool a model calls to hand the conversation to another agent (`{"target", "reason"}`); listed in
# `ModelCallInput.tools` next to the activity names when the agent has handoff targets.
HANDOFF_TOOL = "agents.handoff"
