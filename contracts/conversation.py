"""Inputs, update payloads, query results and activity contracts of `ConversationWorkflow`.

These types cross the Temporal boundary (pydantic data converter), so they change by adding fields with
defaults only. They import nothing with side effects so the workflow sandbox can load them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from contracts.base import Frozen
from contracts.routing import RouteDecision

MAX_MESSAGE_CHARS = 8000
MAX_CLIENT_MESSAGE_ID = 128
# How many recent message ids a run remembers to answer a repeated submission idempotently.
SEEN_IDS_KEPT = 512


class DoubleTexting(StrEnum):
    """What happens when a message arrives while a turn is running."""

    ENQUEUE = "enqueue"  # answer messages one after another, in order
    REJECT = "reject"  # refuse the new message while a turn runs
    INTERRUPT = "interrupt"  # cut the running turn and answer the newest message


class Tier(StrEnum):
    SMALL = "small"
    LARGE = "large"


class ConversationStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    # A turn waits for a human to approve or deny a tool call.
    AWAITING_APPROVAL = "awaiting_approval"
    # A turn waits for the customer's yes or no to a call they did not ask for in so many words.
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    CLOSED = "closed"


# W3C trace-context headers by name; small by construction (two headers), bounded against anything else.
TraceCarrier = Annotated[dict[str, Annotated[str, Field(max_length=512)]], Field(max_length=4)]


class QueuedMessage(Frozen):
    message_id: str
    content: str
    client_message_id: str | None = None
    trace_carrier: TraceCarrier | None = None
    # The agent's stamp when the message was recorded (`agents.stamp`); empty: resolve the agent for its turn.
    agent_stamp: str = ""


class ConversationInput(Frozen):
    tenant_id: str
    conversation_id: str
    agent: str = "support"
    # The customer this conversation acts for (tools refuse other customers' records); None: anonymous.
    customer_id: str | None = None
    channel: str = "api"
    double_texting: DoubleTexting = DoubleTexting.ENQUEUE
    idle_timeout_seconds: float = 3600.0
    max_message_chars: int = MAX_MESSAGE_CHARS
    # Forces continue-as-new after this many turns in one run (0: only when Temporal suggests it).
    max_turns_per_run: int = 0
    # Carried across continue-as-new: only what the next run needs.
    pending: list[QueuedMessage] = Field(default_factory=list)
    seen_message_ids: list[str] = Field(default_factory=list)
    turns_completed: int = 0
    # Tool-loop steps taken over the whole conversation, for the per-conversation step ceiling.
    steps_total: int = 0


class ConversationResult(Frozen):
    conversation_id: str
    turns_completed: int
    status: ConversationStatus = ConversationStatus.CLOSED


class SubmitMessage(Frozen):
    message_id: str = Field(min_length=1, max_length=64)
    content: str
    client_message_id: str | None = Field(default=None, max_length=MAX_CLIENT_MESSAGE_ID)
    # The W3C trace context of the request that sent the message (`traceparent`, `tracestate`): the turn's
    # activities join that request's trace, so each turn is one trace. None: the conversation's own trace.
    trace_carrier: TraceCarrier | None = None


class SubmitAccepted(Frozen):
    message_id: str
    duplicate: bool = False
    position: int = 0


class ConversationState(Frozen):
    conversation_id: str
    status: ConversationStatus
    current_message_id: str | None
    pending_message_ids: list[str]
    turns_completed: int
    double_texting: DoubleTexting
    # Approval ids the running turn waits on.
    pending_approvals: list[str] = Field(default_factory=list)
    # The agent answering now (a handoff changes it).
    agent: str = ""
    # Tool-loop steps taken over the whole conversation (its loop-safety ceiling counts these).
    steps_total: int = 0
    # Confirmation ids the running turn waits on: questions put to the customer (`confirm_action`).
    pending_confirmations: list[str] = Field(default_factory=list)


# ---- activity contracts -------------------------------------------------------------------------------


class RecordUserMessageInput(Frozen):
    tenant_id: str
    conversation_id: str
    message_id: str
    content: str
    client_message_id: str | None = None
    # The agent whose stamp to read in the same transaction (`agents.stamp`); empty: none is read.
    agent: str = ""


class RecordedMessage(Frozen):
    """What recording an accepted user message found. An answer already in the transcript means the message
    is a repeat of one a closed run took in and answered: it is not queued again."""

    answered: bool = False
    # The stamp of `RecordUserMessageInput.agent` read with the row; empty when none was asked for.
    agent_stamp: str = ""


class ModelCallInput(Frozen):
    """A model turn. The history is read from the transcript by reference, never carried in history."""

    tenant_id: str
    conversation_id: str
    message_id: str
    agent: str
    tier: Tier = Tier.SMALL
    # The agent definition's version this turn resolved (0: the shipped default), read by reference.
    agent_version: int = 0
    # Which step of the turn's tool loop this call is; earlier steps' tool results are read from Postgres.
    step: int = 0
    # Activity names (`tools.<name>.v<version>`) of the tools the model may call in this step.
    tools: list[str] = Field(default_factory=list)
    # The turn's random spotlight marker: untrusted text reaches the model between delimiters carrying it,
    # which no tool output can forge because it is drawn after the output was written ("": none).
    spotlight: str = Field(default="", max_length=64)
    # The router's decision (`router.decide`, in history before this call): the chain of models to try. None:
    # the tier's model, as before routing existed (and in histories recorded then).
    route: RouteDecision | None = None


class ToolCallRequest(Frozen):
    """A call the model asked for; nothing in it is trusted until code has checked it."""

    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ModelCallResult(Frozen):
    content: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: list[ToolCallRequest] = Field(default_factory=list)
    cost_usd: float = 0.0
    finish_reason: str = ""


class CompleteTurnInput(Frozen):
    tenant_id: str
    conversation_id: str
    reply_to: str
    content: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # The agent that answered (after a handoff, not the one the conversation started with); "" from runs
    # recorded before it was sent.
    agent: str = ""


class CompleteTurnResult(Frozen):
    assistant_message_id: str


class TurnFailedInput(Frozen):
    tenant_id: str
    conversation_id: str
    message_id: str
    reason: str
    error_type: str = ""
    # The agent that was answering (after a handoff, the one handed to): kept on the question's row, so a turn
    # without an answer counts with it; "" from runs recorded before it was sent.
    agent: str = ""


class ReleaseTurnLeaseInput(Frozen):
    """The concurrent-turn slot the gateway took when it admitted `message_id`; its lease id is the message id."""

    tenant_id: str
    message_id: str


def conversation_workflow_id(tenant_id: str, conversation_id: str) -> str:
    return f"{tenant_id}:conv:{conversation_id}"
