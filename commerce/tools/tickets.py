"""Support tickets: open one for the customer's request, or escalate the conversation to a person.

Both are idempotent by the call's key: a retried call finds the ticket the first one made. Tickets are linked
to the conversation and its customer, so the people who pick them up can read the whole exchange. Subject and
body are sealed at rest under the tenant's data key (`agents.sealed_records`).
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import ToolContext, ToolNotFound, tool
from agents.sealed_records import TICKETS, open_fields, seal_fields
from commerce.tools.common import (
    LINE,
    TEXT,
    WRITE_RETRY,
    WRITE_TIMEOUT_SECONDS,
    Args,
    Out,
    UuidStr,
    call_key,
    fault,
)
from contracts.agents import Effect
from contracts.provenance import ToolPolicy
from db.database import run_sql
from db.ids import new_id

Priority = Literal["low", "normal", "high", "urgent"]
MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 5000


class CreateTicketArgs(Args):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT_CHARS, pattern=LINE)
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, pattern=TEXT, description="the request in full")
    priority: Priority = "normal"
    kind: Literal["customer", "needs_attention"] = Field(
        default="customer", description="customer: the customer's request; needs_attention: something staff must fix"
    )


class EscalateArgs(Args):
    reason: str = Field(min_length=1, max_length=1000, pattern=TEXT, description="why a person must take over")
    priority: Priority = "high"
    ticket_id: UuidStr | None = Field(default=None, description="a ticket of this conversation to escalate instead")


class TicketOut(Out):
    ticket_id: str
    kind: str
    status: str
    priority: str
    subject: str


_SELECT = f"SELECT kind, status, priority, {TICKETS.columns} FROM tickets"


async def _out(session: AsyncSession, row: Any) -> TicketOut:
    subject = (await open_fields(session, TICKETS, row))["subject"]
    return TicketOut(ticket_id=row.id, kind=row.kind, status=row.status, priority=row.priority, subject=subject)


async def _create(
    session: AsyncSession, ctx: ToolContext, *, kind: str, subject: str, body: str, priority: str, status: str
) -> TicketOut:
    key = call_key(ctx)
    ticket_id = new_id()
    await run_sql(
        session,
        "INSERT INTO tickets (id, tenant_id, conversation_id, customer_id, kind, subject, body, priority, status, "
        "fields_sealed, key_version, idempotency_key) VALUES (:id, :tid, :conversation, :customer, :kind, :subject, "
        ":body, :priority, :status, :fields_sealed, :key_version, :key) "
        "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
        {
            "id": ticket_id,
            "tid": ctx.tenant_id,
            "conversation": ctx.conversation_id or None,
            "customer": ctx.customer_id,
            "kind": kind,
            "priority": priority,
            "status": status,
            "key": key,
            **await seal_fields(session, ctx.tenant_id, TICKETS, ticket_id, {"subject": subject, "body": body}),
        },
    )
    row = (await run_sql(session, _SELECT + " WHERE idempotency_key = :key", {"key": key})).one()
    return await _out(session, row)


@tool(
    "tickets.create",
    description=(
        "Open a support ticket for the customer's request when it needs follow-up by the support team: give a "
        "short subject, the request in full, and a priority."
    ),
    effect=Effect.WRITE,
    policy=ToolPolicy(
        intents=["ticket", "complain", "contact", "report", "problem", "issue", "broken", "damag", "wrong", "missing"],
        question="Shall I open a support ticket about this for you? yes/no",
    ),
    timeout_seconds=WRITE_TIMEOUT_SECONDS,
    retry=WRITE_RETRY,
)
async def create_ticket(ctx: ToolContext, args: CreateTicketArgs) -> TicketOut:
    await fault(ctx, "tickets.create")
    async with ctx.session() as session:
        return await _create(
            session,
            ctx,
            kind=args.kind,
            subject=args.subject.strip(),
            body=args.body,
            priority=args.priority,
            status="open",
        )


@tool(
    "tickets.escalate",
    description=(
        "Hand the conversation to a person: when the customer asks for one, is upset, or you cannot help. Give "
        "the reason. Pass ticket_id to escalate a ticket of this conversation instead of opening a new one."
    ),
    effect=Effect.WRITE,
    # Handing over to a person the customer did not ask for is put to them ("Shall I ...? yes/no").
    policy=ToolPolicy(
        intents=["escalat", "human", "person", "manager", "someone", "upset", "angry", "unacceptable"],
        grounded_args=["ticket_id"],
        question="Shall I hand this over to a colleague? yes/no",
    ),
    timeout_seconds=WRITE_TIMEOUT_SECONDS,
    retry=WRITE_RETRY,
)
async def escalate(ctx: ToolContext, args: EscalateArgs) -> TicketOut:
    await fault(ctx, "tickets.escalate")
    async with ctx.session() as session:
        if args.ticket_id is None:
            return await _create(
                session,
                ctx,
                kind="escalation",
                subject="Escalation: " + " ".join(args.reason.split())[:80],
                body=args.reason,
                priority=args.priority,
                status="escalated",
            )
        # Escalating twice leaves it escalated: the update is its own idempotency.
        row = (
            await run_sql(
                session,
                "UPDATE tickets SET status = 'escalated', updated_at = now(), priority = CASE "
                "WHEN array_position(ARRAY['low','normal','high','urgent'], :priority) > "
                "array_position(ARRAY['low','normal','high','urgent'], priority) THEN :priority ELSE priority END "
                "WHERE id = :id AND conversation_id = :conversation RETURNING kind, status, priority, "
                + TICKETS.columns,
                {"id": args.ticket_id, "conversation": ctx.conversation_id, "priority": args.priority},
            )
        ).first()
        if row is None:
            raise ToolNotFound("no such ticket in this conversation", details={"ticket_id": args.ticket_id})
        return await _out(session, row)
