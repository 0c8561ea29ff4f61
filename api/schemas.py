"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.agents import AGENT_NAME, AgentDefinition, LoopLimits
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


# The bounds a request may set (finite numbers, no absurd ceilings), shared by a full definition and a patch.
StepsPerTurn = Annotated[int, Field(ge=1, le=100)]
StepsPerConversation = Annotated[int, Field(ge=1, le=1_000_000)]
NoProgressRepeats = Annotated[int, Field(ge=2, le=100)]
OscillationWindow = Annotated[int, Field(ge=4, le=64)]
TokensPerTurn = Annotated[int, Field(ge=1, le=100_000_000)]
CostPerTurn = Annotated[float, Field(gt=0, le=10_000)]


class LoopLimitsIn(_Strict):
    """Every loop limit of an agent: a full definition leaves none to a default."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_steps_per_turn: StepsPerTurn
    max_steps_per_conversation: StepsPerConversation
    no_progress_repeats: NoProgressRepeats
    oscillation_window: OscillationWindow
    max_tokens_per_turn: TokensPerTurn
    max_cost_usd_per_turn: CostPerTurn

    def limits(self) -> LoopLimits:
        return LoopLimits(**self.model_dump())


class _Patch(_Strict):
    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        # null would read as "clear it", which no field of a definition allows; leave the field out instead.
        nulled = sorted(name for name in self.model_fields_set if getattr(self, name) is None)
        if nulled:
            raise ValueError(f"may not be null (leave them out to keep them): {', '.join(nulled)}")
        return self


class LoopLimitsPatch(_Patch):
    """The loop limits to change; the others keep their current values."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_steps_per_turn: StepsPerTurn | None = None
    max_steps_per_conversation: StepsPerConversation | None = None
    no_progress_repeats: NoProgressRepeats | None = None
    oscillation_window: OscillationWindow | None = None
    max_tokens_per_turn: TokensPerTurn | None = None
    max_cost_usd_per_turn: CostPerTurn | None = None

    def applied_to(self, current: LoopLimits) -> LoopLimits:
        return LoopLimits(**{**current.model_dump(), **self.model_dump(exclude_none=True)})


ToolRef = Annotated[str, Field(max_length=100, pattern=_TOOL_REF)]
AgentName = Annotated[str, Field(max_length=40, pattern=AGENT_NAME)]
ToolRefs = Annotated[
    list[ToolRef], Field(max_length=64, description="tool names (newest version), `name@version` or `ns.*`")
]
HandoffTargets = Annotated[
    list[AgentName], Field(max_length=16, description="agents this one may hand a conversation to")
]


def _text_without_nul(value: str) -> str:
    if _has_nul(value):
        raise ValueError("may not contain NUL characters")
    return value


Description = Annotated[str, Field(max_length=1000), AfterValidator(_text_without_nul)]
SystemPrompt = Annotated[str, Field(min_length=1, max_length=8000), AfterValidator(_text_without_nul)]


class AgentUpsert(_Strict):
    """A whole new version of an agent: every field of the definition but its name (the path) and version (next).

    Nothing is filled in: a field left out is a 422, never a reset to a default (use `PATCH` to change a few)."""

    description: Description
    system_prompt: SystemPrompt
    tools: ToolRefs
    default_tier: Tier
    handoff_targets: HandoffTargets
    limits: LoopLimitsIn


class AgentPatch(_Patch):
    """The fields of an agent to change (limits field by field); the rest are kept from its current version."""

    description: Description | None = None
    system_prompt: SystemPrompt | None = None
    tools: ToolRefs | None = None
    default_tier: Tier | None = None
    handoff_targets: HandoffTargets | None = None
    limits: LoopLimitsPatch | None = None

    def applied_to(self, current: AgentDefinition) -> AgentDefinition:
        changes = self.model_dump(exclude_unset=True, exclude={"limits"})
        if self.limits is not None:
            changes["limits"] = self.limits.applied_to(current.limits)
        return AgentDefinition(**{**current.model_dump(exclude={"version"}), **changes})


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
    # A draft is read, evaluated and trialled by its number; conversations use the active version.
    draft: bool = False


class AgentVersionOut(BaseModel):
    name: str
    version: int
    source: Literal["shipped", "operator", "tenant"]
    description: str
    created_at: datetime | None = None
    created_by: str = ""
    draft: bool = False
    # The version conversations use: the newest that is not a draft, else the default.
    active: bool = False
