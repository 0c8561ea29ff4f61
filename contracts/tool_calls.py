"""A tool call's contracts: the input every tool activity takes, its result, and the outcome the workflow
records when it decides the call itself; with the stable hashes that key them.

Like `contracts.agents`, these cross the Temporal boundary (pydantic data converter), are loaded inside the
workflow sandbox, and change by adding fields with defaults only.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import Field

from contracts.base import Frozen
from contracts.conversation import ToolCallRequest


class ToolCallInput(Frozen):
    """The one input of every tool activity and tool saga."""

    tenant_id: str
    conversation_id: str
    message_id: str
    call_id: str
    tool: str
    version: int = 1
    arguments: dict[str, Any] = Field(default_factory=dict)
    agent: str = ""
    # The customer this conversation acts for; tools on customer data refuse other customers' records.
    customer_id: str | None = None
    step: int = 0
    # Position of this call among the calls the model asked for in the same step.
    call_index: int = 0
    # Stable across retries and replays: derived from the workflow id and the call id.
    idempotency_key: str = ""
    # A compensation names the call it undoes (a `call_id` of the same message and workflow); once the
    # compensation succeeds, that call's charge is given back.
    undoes_call_id: str = ""


class ToolStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    DENIED = "denied"
    UNAVAILABLE = "unavailable"


class ToolCallResult(Frozen):
    call_id: str
    tool: str
    status: ToolStatus
    output: dict[str, Any] = Field(default_factory=dict)
    error_type: str = ""
    message: str = ""

    @property
    def state_hash(self) -> str:
        """Hash of (tool, result) for loop detection; arguments are hashed by the caller alongside."""
        return stable_hash({"tool": self.tool, "status": self.status, "output": self.output})


class RecordToolOutcomeInput(Frozen):
    """A tool outcome decided in the workflow (approval denied, unknown tool, cut) rather than by the tool."""

    tenant_id: str
    conversation_id: str
    message_id: str
    step: int
    call: ToolCallRequest
    result: ToolCallResult
    # Where the call sits among the step's calls, and the tool version it named (for the step row).
    call_index: int = 0
    version: int = 1


def stable_hash(value: Any) -> str:
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:32]


def idempotency_key(workflow_id: str, call_id: str) -> str:
    return hashlib.sha256(f"{workflow_id}\x00{call_id}".encode()).hexdigest()
