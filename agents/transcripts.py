"""Transcript rows in Postgres, written idempotently by message id, read for model history and the API.

Every reader and writer of `messages.content` goes through this module: the text is sealed under the tenant's
data key (`core.crypto.fields`, bound to the tenant and the message id) and `content` stays empty. A row
written before sealing existed (`content_sealed` NULL) is read in clear until key rotation seals it.
"""

# ruff: noqa: S608  # statements assembled from this module's constants; every value is a bound parameter
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from core.crypto.fields import FieldSealer, key_version_of
from db.database import run_sql

FIELD = "messages.content"

# Assistant message ids derive from the message they answer, so every retry writes the same row.
_ASSISTANT_NS = uuid.UUID("6f1c3f0e-8f2a-4c1e-9b7a-2d4e5f6a7b8c")


def assistant_message_id(reply_to: str) -> str:
    return str(uuid.uuid5(_ASSISTANT_NS, reply_to))


async def seal_content(session: AsyncSession, tenant_id: str, message_id: str, content: str) -> dict[str, Any]:
    """The bound parameters `content`, `sealed` and `key_version` of a row holding `content`."""
    sealed = await FieldSealer(session, tenant_id).seal(FIELD, message_id, content)
    return {"content": "", "sealed": sealed, "key_version": key_version_of(sealed)}


async def open_content(session: AsyncSession, row: Any) -> str:
    """The text of a row read with `tenant_id, id, content, content_sealed`."""
    if row.content_sealed is None:
        return str(row.content)
    return await FieldSealer(session, str(row.tenant_id)).open(FIELD, str(row.id), row.content_sealed)


async def export_row(session: AsyncSession, row: Any) -> dict[str, Any]:
    """A whole `messages` row as a tenant's data export holds it: `content` in clear, no sealed bytes."""
    exported = dict(row._mapping)
    exported["content"] = await open_content(session, row)
    exported.pop("content_sealed", None)
    return exported


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    id: str
    role: str
    content: str
    reply_to: str | None
    client_message_id: str | None
    model: str | None
    created_at: datetime


async def insert_user_message(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    message_id: str,
    content: str,
    client_message_id: str | None,
) -> bool:
    """True when this call stored the row, False when it was already there."""
    result = await run_sql(
        session,
        (
            "INSERT INTO messages (id, tenant_id, conversation_id, role, content, content_sealed, key_version,"
            " client_message_id, created_at)"
            " VALUES (:id, :tenant_id, :conversation_id, 'user', :content, :sealed, :key_version,"
            " :client_message_id, now())"
            " ON CONFLICT DO NOTHING"
        ),
        {
            "id": message_id,
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "client_message_id": client_message_id,
            **await seal_content(session, tenant_id, message_id, content),
        },
    )
    return bool(getattr(result, "rowcount", 0))


async def record_user_message(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    message_id: str,
    content: str,
    client_message_id: str | None,
) -> bool:
    """Write a message the conversation's run has accepted; True when it was answered already.

    A row may be there before the run accepts the message: one written by an attempt whose acceptance never
    reached the run's history (a worker hung or died before its workflow task completed), or by an earlier
    try of this same write. It is rewritten with the accepted content and moved to the end of the transcript,
    where the run queues the message, so the model sees the conversation in the order it is answered. An
    answered message is left as it is.
    """
    if await answered(session, message_id=message_id):
        return True
    if await insert_user_message(
        session,
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        message_id=message_id,
        content=content,
        client_message_id=client_message_id,
    ):
        return False
    await run_sql(
        session,
        (
            "UPDATE messages SET content = :content, content_sealed = :sealed, key_version = :key_version,"
            " created_at = now(),"
            " seq = nextval(pg_get_serial_sequence('messages', 'seq'))"
            " WHERE id = :id AND role = 'user'"
            " AND NOT EXISTS (SELECT 1 FROM messages answer WHERE answer.reply_to = messages.id)"
        ),
        {"id": message_id, **await seal_content(session, tenant_id, message_id, content)},
    )
    return False


async def answered(session: AsyncSession, *, message_id: str) -> bool:
    """Whether the transcript holds an answer to `message_id` (at most one can exist: its id derives from it)."""
    result = await run_sql(session, "SELECT 1 FROM messages WHERE reply_to = :id", {"id": message_id})
    return result.first() is not None


async def insert_assistant_message(
    session: AsyncSession,
    *,
    tenant_id: str,
    conversation_id: str,
    reply_to: str,
    content: str,
    model: str,
    agent: str = "",
) -> tuple[str, float | None]:
    """Record the answer to `reply_to` by `agent` (NULL when not known); return its id and, when this call
    wrote it, the turn's seconds.

    The seconds run from the moment the question was recorded to the moment the answer is, read in the same
    statement (no extra round trip). A repeat of the write (a retried activity) returns None for them, so the
    turn-latency histogram counts each turn once.
    """
    message_id = assistant_message_id(reply_to)
    rows = await run_sql(
        session,
        (
            "WITH written AS ("
            "  INSERT INTO messages (id, tenant_id, conversation_id, role, content, content_sealed, key_version,"
            "   reply_to, model, agent, created_at)"
            "  VALUES (:id, :tenant_id, :conversation_id, 'assistant', :content, :sealed, :key_version,"
            "   :reply_to, :model, NULLIF(:agent, ''), now())"
            "  ON CONFLICT DO NOTHING RETURNING created_at"
            ")"
            " SELECT EXTRACT(EPOCH FROM (written.created_at - asked.created_at)) AS seconds"
            " FROM written JOIN messages asked ON asked.id = :reply_to"
        ),
        {
            "id": message_id,
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "reply_to": reply_to,
            "model": model,
            "agent": agent,
            **await seal_content(session, tenant_id, message_id, content),
        },
    )
    seconds = next((float(row.seconds) for row in rows), None)
    return message_id, seconds


async def record_failed_agent(session: AsyncSession, *, message_id: str, agent: str) -> None:
    """Keep on the question `message_id` the agent that had its turn when the turn failed without an answer.

    An answer carries its own agent; a question's `agent` is only read when no answer exists, so a turn that
    fails, then is answered on a retry of the message, counts with the answer's agent."""
    await run_sql(
        session,
        "UPDATE messages SET agent = :agent WHERE id = :id AND role = 'user'",
        {"id": message_id, "agent": agent},
    )


_COLUMNS = "tenant_id, id, role, content, content_sealed"


async def history_for(
    session: AsyncSession, *, conversation_id: str, up_to_message_id: str, limit: int
) -> list[dict[str, str]]:
    """The last `limit` messages up to and including the one being answered, oldest first."""
    rows = await run_sql(
        session,
        (
            f"SELECT {_COLUMNS} FROM ("
            f"  SELECT {_COLUMNS}, seq FROM messages WHERE conversation_id = :cid"
            "  AND seq <= (SELECT seq FROM messages WHERE id = :mid)"
            "  ORDER BY seq DESC LIMIT :limit"
            ") recent ORDER BY seq ASC"
        ),
        {"cid": conversation_id, "mid": up_to_message_id, "limit": limit},
    )
    return [{"role": str(m.role), "content": await open_content(session, m)} for m in rows.all()]


async def last_user_texts(
    session: AsyncSession, *, conversation_id: str, up_to_message_id: str, count: int
) -> list[str]:
    """The texts of the last `count` user messages up to `up_to_message_id`, newest first (routing reads them)."""
    rows = await run_sql(
        session,
        (
            f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = :cid AND role = 'user'"
            " AND seq <= (SELECT seq FROM messages WHERE id = :mid) ORDER BY seq DESC LIMIT :count"
        ),
        {"cid": conversation_id, "mid": up_to_message_id, "count": count},
    )
    return [await open_content(session, m) for m in rows.all()]


async def answer_text(session: AsyncSession, *, conversation_id: str, reply_to: str) -> str | None:
    """The text of the assistant's answer to `reply_to`, None when there is none."""
    rows = await run_sql(
        session,
        (
            f"SELECT {_COLUMNS} FROM messages WHERE conversation_id = :c AND reply_to = :r AND role = 'assistant'"
            " ORDER BY created_at LIMIT 1"
        ),
        {"c": conversation_id, "r": reply_to},
    )
    row = rows.first()
    return None if row is None else await open_content(session, row)


async def transcript(session: AsyncSession, *, conversation_id: str, limit: int = 500) -> list[TranscriptRow]:
    rows = await run_sql(
        session,
        (
            "SELECT tenant_id, id, role, content, content_sealed, reply_to, client_message_id, model, created_at"
            " FROM messages WHERE conversation_id = :cid ORDER BY seq ASC LIMIT :limit"
        ),
        {"cid": conversation_id, "limit": limit},
    )
    return [
        TranscriptRow(
            id=m.id,
            role=m.role,
            content=await open_content(session, m),
            reply_to=m.reply_to,
            client_message_id=m.client_message_id,
            model=m.model,
            created_at=m.created_at,
        )
        for m in rows.all()
    ]
