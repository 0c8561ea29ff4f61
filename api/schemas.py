"""Request and response bodies of the public API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.conversation_types import MAX_CLIENT_MESSAGE_ID, DoubleTexting

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_MAX_METADATA_BYTES = 16_384


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
