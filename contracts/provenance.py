"""Provenance of what a model sees, the per-tool policy on what it may do with it, and the decisions taken.

Every value in a turn has an origin: the customer's message, the tenant's agent definition, a tool's result,
or retrieved knowledge. A call the model proposes is checked against those origins before it runs (the
check lives in `workflows.provenance`): a write must be asked for by the customer (its intent words appear in
the customer's own request) and name targets the customer gave or that a read the customer asked for
returned. Text a third party wrote (an order note, a carrier message, a document) never authorises anything.

These are data that cross the workflow boundary: the policy rides on `ToolSpec`, the decision and its facts
on the activity that records it, so a replay shows why a call ran or was refused.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from contracts.base import Frozen


class Origin(StrEnum):
    """Where a value the model sees comes from."""

    CUSTOMER = "customer"  # the customer's own message: the only origin that can ask for an action
    AGENT_DEFINITION = "agent_definition"  # the tenant's agent definition: trusted, but asks for nothing
    TOOL_RESULT = "tool_result"  # a tool's output: written by the world, untrusted
    KNOWLEDGE = "knowledge"  # retrieved documents: untrusted, and never a source of targets
    NOWHERE = "nowhere"  # a value no origin in the turn holds: the model made it up or read it in free text


class Verdict(StrEnum):
    ALLOW = "allow"
    CONFIRM = "confirm"  # ask the customer first ("Shall I cancel order X? yes/no")
    REFUSE = "refuse"


class ToolPolicy(Frozen):
    """A tool's declared rule on when a model may call it; versioned with the tool.

    Reads run freely. A write or irreversible call is allowed when (1) the customer's own message names the
    tool or holds one of `intents` (word stems: `cancel` matches "cancelled" and "cancellation"; words inside
    a tool name the customer wrote count for that tool only) and (2) every argument in
    `grounded_args` has a value the customer gave, the agent definition holds, or an identifier a grounded
    read returned. A call with ungrounded targets is refused; a call whose targets are grounded but whose
    intent the customer did not state is put to the customer (`confirm_without_intent`) or refused.
    """

    version: int = Field(default=1, ge=1)
    intents: list[str] = Field(default_factory=list, max_length=32)
    grounded_args: list[str] = Field(default_factory=list, max_length=16)
    confirm_without_intent: bool = True
    # How the confirmation asks; `{tool}` and any argument name in braces are filled in.
    question: str = Field(default="", max_length=300)


class ArgumentFact(Frozen):
    """Where one target argument's value was found."""

    argument: str
    value: str
    origin: Origin
    # The call whose result held the value (origin tool_result), or the untrusted results it appeared in.
    source_call_id: str = ""
    seen_in_untrusted: list[str] = Field(default_factory=list)


class ReadFact(Frozen):
    """A tool result read earlier in the turn; `grounded` when the customer's request asked for that read."""

    call_id: str
    tool: str
    origin: Origin = Origin.TOOL_RESULT
    grounded: bool = False


class PolicyDecision(Frozen):
    """The check of one proposed call, with the facts it rests on."""

    call_id: str
    tool: str
    verdict: Verdict
    reason: str
    policy_version: int = 0
    intent_found: str = ""
    arguments: list[ArgumentFact] = Field(default_factory=list)
    reads: list[ReadFact] = Field(default_factory=list)
    # Set once the customer answered a confirmation (None: none asked).
    confirmed: bool | None = None


class RecordPolicyDecisionInput(Frozen):
    """Announces a policy decision (event `tool.policy`) and counts it; the input is the audit record."""

    tenant_id: str
    conversation_id: str
    message_id: str
    step: int = 0
    decision: PolicyDecision


class ConfirmationReply(Frozen):
    """The `confirm_action` update: the customer's typed answer to a `confirmation.requested` question."""

    confirmation_id: str = Field(min_length=1, max_length=64)
    confirmed: bool


class ConfirmationStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"


# Error type of a call the provenance policy refused (or the customer declined), as the model reads it.
POLICY_REFUSED = "PolicyRefused"
NOT_CONFIRMED = "NotConfirmed"
