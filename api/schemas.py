"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.agents import AGENT_NAME, LoopLimits
from contracts.conversation import MAX_CLIENT_MESSAGE_ID, DoubleTexting, Tier

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# `orders.lookup`, `orders.lookup@2`, `orders.*`: the grammar is checked in full against the tool registry.
_TOOL_REF = r"^[a-z][a-z0-9_.]{0,94}(\*|@[0-9]{1,6})?$"
_MAX_METADATA_BYTES = 16_384
_MAX_INT4 = 2_147_483_647


def _has_nul(value: Any) -> bool:
    """Postgres text and JSON cannot hold NUL; refuse it at the edge rather than fail at the database."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(_Strict):
    agent: str = Field(default="support", pattern=_NAME, description="agent answering this conversation")
    channel: str = Field(default="api", pattern=_NAME, description="where the customer writes from")
    metadata: dict[str, Any] = Field(default_factory=dict, description="free-form, at most 16 KiB as JSON")
    double_texting: DoubleTexting = DoubleTexting.ENQUEUE
    customer_id: str | None = Field(
        default=None,
        pattern=_UUID,
        description="the tenant's customer this conversation acts for; tools refuse other customers' records",
    )

    @field_validator("customer_id")
    @classmethod
    def _canonical(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    @field_validator("metadata")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        import json

        encoded = json.dumps(value, default=str)
        if len(encoded) > _MAX_METADATA_BYTES:
            raise ValueError(f"metadata exceeds {_MAX_METADATA_BYTES} bytes")
        if _has_nul(value):
            raise ValueError("metadata may not contain NUL characters")
        return value


class ConversationOut(BaseModel):
    id: str
    agent: str
    channel: str
    metadata: dict[str, Any]
    double_texting: DoubleTexting
    created_at: datetime
    customer_id: str | None = None


class MessageCreate(_Strict):
    content: str = Field(min_length=1, description="the customer's text")
    client_message_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CLIENT_MESSAGE_ID,
        pattern=r"^[\x21-\x7e]+$",
        description="the client's id for this message; the same id twice is one message",
    )


class MessageAccepted(BaseModel):
    message_id: str
    conversation_id: str
    duplicate: bool
    events_url: str


class TranscriptMessage(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str
    reply_to: str | None
    client_message_id: str | None
    model: str | None
    created_at: datetime


class ConversationDetail(ConversationOut):
    status: str
    current_message_id: str | None = None
    pending_message_ids: list[str] = Field(default_factory=list)
    turns_completed: int = 0
    messages: list[TranscriptMessage]


# ---- agents ---------------------------------------------------------------------------------------------


class LoopLimitsIn(_Strict):
    """`LoopLimits` with bounds a request may set (finite numbers, no absurd ceilings)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_steps_per_turn: int = Field(default=8, ge=1, le=100)
    max_steps_per_conversation: int = Field(default=200, ge=1, le=1_000_000)
    no_progress_repeats: int = Field(default=3, ge=2, le=100)
    oscillation_window: int = Field(default=8, ge=4, le=64)
    max_tokens_per_turn: int = Field(default=32_000, ge=1, le=100_000_000)
    max_cost_usd_per_turn: float = Field(default=0.50, gt=0, le=10_000)

    def limits(self) -> LoopLimits:
        return LoopLimits(**self.model_dump())


ToolRef = Annotated[str, Field(max_length=100, pattern=_TOOL_REF)]
AgentName = Annotated[str, Field(max_length=40, pattern=AGENT_NAME)]


class AgentUpsert(_Strict):
    """A new version of an agent: every field of the definition but its name (the path) and version (next)."""

    description: str = Field(default="", max_length=1000)
    system_prompt: str = Field(min_length=1, max_length=8000)
    tools: list[ToolRef] = Field(
        default_factory=list, max_length=64, description="tool names (newest version), `name@version` or `ns.*`"
    )
    default_tier: Tier = Tier.SMALL
    handoff_targets: list[AgentName] = Field(
        default_factory=list, max_length=16, description="agents this one may hand a conversation to"
    )
    limits: LoopLimitsIn = Field(default_factory=LoopLimitsIn)

    @field_validator("description", "system_prompt")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if _has_nul(value):
            raise ValueError("may not contain NUL characters")
        return value


class AgentOut(BaseModel):
    name: str
    # 0: the shipped (or operator) default; >= 1: the tenant's saved version.
    version: int
    source: Literal["shipped", "operator", "tenant"]
    description: str
    system_prompt: str
    tools: list[str]
    default_tier: Tier
    handoff_targets: list[str]
    limits: LoopLimits
    created_at: datetime | None = None
    created_by: str = ""


class AgentVersionOut(BaseModel):
    name: str
    version: int
    source: Literal["shipped", "operator", "tenant"]
    description: str
    created_at: datetime | None = None
    created_by: str = ""
