"""`/v1/conversations`: create a conversation, submit messages, read status and transcript."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import Field
from sqlalchemy import RowMapping
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from agents import transcripts
from agents.definitions import find_agent, pinned_agent_names
from api.admission.deps import AdmissionDep, AdmittedDep
from api.conversation_runs import NotConfirmed, RunDidNotAnswer, live_state, submit
from api.deps import ConversationsReadDep, ConversationsWriteDep, DatabaseDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    MessageAccepted,
    MessageCreate,
    TranscriptMessage,
)
from core.settings import Settings
from db.database import Database, run_sql

router = APIRouter(prefix="/v1/conversations", tags=["conversations"])

ConversationId = Annotated[uuid.UUID, Path(description="the conversation's id")]
# Message ids from a client's own id are stable, so a repeated POST is recognised even after the
# conversation's run has closed and another one started.
_CLIENT_MESSAGE_NS = uuid.UUID("0b7f7c56-3c1d-4a53-9a55-0b7f6f0f5c11")
_RETRY_AFTER_SECONDS = "3"


def message_id_for(conversation_id: str, client_message_id: str) -> str:
    return str(uuid.uuid5(_CLIENT_MESSAGE_NS, f"{conversation_id}:{client_message_id}"))


class ConversationView(ConversationDetail):
    run_answered: bool = Field(
        default=True,
        description=(
            "False when the conversation's run did not say in time what it is doing (its worker busy, hung or"
            " restarting, or the engine unreachable): `status` is then `unknown`, and the messages are the"
            " transcript as stored, which holds every message the run has taken in."
        ),
    )


async def load_conversation(db: Database, tenant_id: str, conversation_id: str) -> ConversationOut:
    async with db.tenant_session(tenant_id) as session:
        result = await run_sql(
            session,
            "SELECT id, agent, channel, metadata, double_texting, created_at, customer_id"
            " FROM conversations WHERE id = :id",
            {"id": conversation_id},
        )
        return _conversation_out(result.mappings().first())


async def _load_for_message(
    db: Database, tenant_id: str, conversation_id: str, message_id: str
) -> tuple[ConversationOut, bool]:
    """The conversation and whether `message_id` has its answer yet, in one statement: a repeated message
    costs the post no second transaction (each is a BEGIN, the tenant binding and a COMMIT)."""
    async with db.tenant_session(tenant_id) as session:
        result = await run_sql(
            session,
            "SELECT id, agent, channel, metadata, double_texting, created_at, customer_id,"
            " EXISTS (SELECT 1 FROM messages WHERE reply_to = :message_id) AS answered"
            " FROM conversations WHERE id = :id",
            {"id": conversation_id, "message_id": message_id},
        )
        row = result.mappings().first()
        return _conversation_out(row), bool(row and row["answered"])


def _conversation_out(row: RowMapping | None) -> ConversationOut:
    if row is None:
        # Another tenant's conversation answers exactly like one that does not exist.
        raise ApiError(404, "conversation_not_found", "no such conversation")
    meta = row["metadata"] if isinstance(row["metadata"], dict) else json.loads(row["metadata"] or "{}")
    return ConversationOut(
        id=row["id"],
        agent=row["agent"],
        channel=row["channel"],
        metadata=meta,
        double_texting=row["double_texting"],
        created_at=row["created_at"],
        customer_id=row["customer_id"],
    )


async def _check_references(session: AsyncSession, body: ConversationCreate, settings: Settings) -> None:
    """The agent and the customer must exist for this tenant (under RLS another tenant's are simply absent)."""
    if await find_agent(session, body.agent, pinned=pinned_agent_names(settings)) is None:
        raise ApiError(422, "agent_not_found", f"no agent named {body.agent!r}", {"agent": body.agent})
    if body.customer_id is not None:
        found = await run_sql(session, "SELECT 1 FROM customers WHERE id = :id", {"id": body.customer_id})
        if found.first() is None:
            raise ApiError(422, "customer_not_found", "no such customer", {"customer_id": body.customer_id})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConversationOut)
async def create_conversation(
    body: ConversationCreate, principal: ConversationsWriteDep, db: DatabaseDep, settings: SettingsDep
) -> ConversationOut:
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(principal.tenant_id) as session:
        await _check_references(session, body, settings)
        row = (
            await run_sql(
                session,
                (
                    "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                    " customer_id, created_at, updated_at)"
                    " VALUES (:id, :tid, :agent, :channel, CAST(:meta AS jsonb), :dt, 'open', :customer, now(), now())"
                    " RETURNING created_at"
                ),
                {
                    "id": conversation_id,
                    "tid": principal.tenant_id,
                    "agent": body.agent,
                    "channel": body.channel,
                    "meta": json.dumps(body.metadata, default=str),
                    "dt": body.double_texting.value,
                    "customer": body.customer_id,
                },
            )
        ).one()
    return ConversationOut(
        id=conversation_id,
        agent=body.agent,
        channel=body.channel,
        metadata=body.metadata,
        double_texting=body.double_texting,
        created_at=row[0],
        customer_id=body.customer_id,
    )


@router.post("/{conversation_id}/messages", status_code=status.HTTP_202_ACCEPTED, response_model=MessageAccepted)
async def post_message(
    conversation_id: ConversationId,
    body: MessageCreate,
    principal: ConversationsWriteDep,
    db: DatabaseDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    admission: AdmissionDep,
    admitted: AdmittedDep,
) -> MessageAccepted:
    if len(body.content) > settings.max_message_chars:
        raise ApiError(
            422,
            "message_too_long",
            f"message content exceeds {settings.max_message_chars} characters",
            {"max_chars": settings.max_message_chars, "chars": len(body.content)},
        )
    if not body.content.strip():
        raise ApiError(422, "message_empty", "message content is blank")
    if body.client_message_id:
        message_id = message_id_for(str(conversation_id), body.client_message_id)
        conversation, answered = await _load_for_message(db, principal.tenant_id, str(conversation_id), message_id)
        # Only an answer settles a repeat here: it exists only for a message a run took in. A user message's
        # row alone proves nothing, so anything short of an answer goes to the run, which decides.
        if answered:
            return _accepted(conversation.id, message_id, duplicate=True)
    else:
        conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
        message_id = str(uuid.uuid4())
    # Budget, quotas and a concurrent-turn lease, against the plan the request was admitted with; handed back
    # if the run refuses the message or it repeats one, kept if the run did not confirm it: the message may
    # yet become a turn, which gives the slot back when it ends (else the slot expires by itself).
    confirmed = True
    async with admission.turn(admitted, message_id) as turn:
        try:
            async with admission.starts.slot(admitted.plan):
                accepted = await submit(
                    temporal, settings, principal.tenant_id, conversation, message_id, body, priority=admitted.priority
                )
        except WorkflowUpdateFailedError as exc:
            raise _rejection(exc) from exc
        except RPCError as exc:
            raise ApiError(409, "conversation_unavailable", "the conversation cannot take this message") from exc
        except NotConfirmed:
            confirmed = False
        else:
            turn.settle(duplicate=accepted.duplicate)
    if not confirmed:
        raise _not_confirmed(body.client_message_id)
    return _accepted(conversation.id, accepted.message_id, duplicate=accepted.duplicate)


def _accepted(conversation_id: str, message_id: str, *, duplicate: bool) -> MessageAccepted:
    return MessageAccepted(
        message_id=message_id,
        conversation_id=conversation_id,
        duplicate=duplicate,
        events_url=f"/v1/conversations/{conversation_id}/events",
    )


def _not_confirmed(client_message_id: str | None) -> ApiError:
    if client_message_id:
        advice = f"retry with the same client_message_id ({client_message_id!r}): it is answered exactly once"
    else:
        advice = "send it with a client_message_id to retry it safely; without one a retry may be a second message"
    return ApiError(
        503,
        "not_confirmed",
        f"the conversation did not confirm the message in time; it may or may not have been taken in: {advice}",
        {"client_message_id": client_message_id},
        headers={"Retry-After": _RETRY_AFTER_SECONDS},
    )


def _rejection(exc: WorkflowUpdateFailedError) -> ApiError:
    cause = exc.cause
    error_type = getattr(cause, "type", None) or ""
    message = getattr(cause, "message", None) or str(cause)
    if error_type == "ConversationBusy":
        return ApiError(409, "conversation_busy", message, headers={"Retry-After": "1"})
    if error_type == "InvalidMessage":
        return ApiError(422, "message_rejected", message, {"reason": error_type})
    return ApiError(
        503,
        "message_not_recorded",
        "the message could not be recorded; retry it (with the same client_message_id, if it had one)",
        headers={"Retry-After": _RETRY_AFTER_SECONDS},
    )


@router.get("/{conversation_id}", response_model=ConversationView)
async def get_conversation(
    conversation_id: ConversationId, principal: ConversationsReadDep, db: DatabaseDep, temporal: TemporalDep
) -> ConversationView:
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    async with db.tenant_session(principal.tenant_id) as session:
        rows = await transcripts.transcript(session, conversation_id=conversation.id)
    messages = [
        TranscriptMessage(
            id=r.id,
            role=r.role,  # type: ignore[arg-type]
            content=r.content,
            reply_to=r.reply_to,
            client_message_id=r.client_message_id,
            model=r.model,
            created_at=r.created_at,
        )
        for r in rows
    ]
    try:
        state = await live_state(temporal, principal.tenant_id, conversation.id)
    except RunDidNotAnswer:
        # The transcript is Postgres' own; only what the run is doing now is unknown.
        return ConversationView(
            **conversation.model_dump(),
            status="unknown",
            run_answered=False,
            turns_completed=sum(1 for m in messages if m.role == "assistant"),
            messages=messages,
        )
    return ConversationView(
        **conversation.model_dump(),
        status=state.status.value if state else "idle",
        current_message_id=state.current_message_id if state else None,
        pending_message_ids=state.pending_message_ids if state else [],
        turns_completed=state.turns_completed if state else sum(1 for m in messages if m.role == "assistant"),
        messages=messages,
    )
