"""The `conversation.turn_cut` activity: a turn loop safety stopped is handed to a human.

It opens an escalation ticket for the conversation (idempotent by the message it answers, so a retry or a
replay opens one), announces `turn.cut` with the reason on the conversation's stream (deduplicated per
message) and counts the cut by reason. The workflow then answers the customer that a colleague will follow
up; the ticket is what makes that true.
"""

from __future__ import annotations

import uuid

import structlog
from temporalio import activity

from agents.sealed_records import TICKETS, seal_fields
from contracts.agents import TurnCutInput
from contracts.events import EventType
from contracts.names import ACT_TURN_CUT
from core.events import EventBus
from core.telemetry import LOOP_CUT_TOTAL
from db.database import Database, run_sql

log = structlog.get_logger("aiaas.loop_safety")

# The ticket's customer is the conversation's; a conversation without a row (or a customer) gets none.
_OPEN_TICKET = """
INSERT INTO tickets (id, tenant_id, conversation_id, customer_id, kind, subject, body, priority, status,
                     fields_sealed, key_version, idempotency_key, created_at, updated_at)
SELECT :id, :tid, :cid, c.customer_id, 'escalation', :subject, :body, 'high', 'open', :fields_sealed, :key_version,
       :key, now(), now()
FROM (SELECT 1) AS one LEFT JOIN conversations c ON c.id = :cid
ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
"""
_FIND_TICKET = "SELECT id FROM tickets WHERE idempotency_key = :key"


def ticket_key(message_id: str) -> str:
    return f"turn-cut:{message_id}"


class TurnCutActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name=ACT_TURN_CUT)
    async def turn_cut(self, inp: TurnCutInput) -> None:
        key = ticket_key(inp.message_id)
        subject = f"Conversation needs a person: the agent was stopped ({inp.reason.value})"
        body = (
            f"Loop safety stopped the agent's turn answering message {inp.message_id} after {inp.steps} steps.\n"
            f"Reason: {inp.reason.value}. {inp.detail}\n"
            "The customer was told that a colleague will follow up."
        )
        async with self._db.tenant_session(inp.tenant_id) as session:
            new_ticket = str(uuid.uuid4())
            fields = {"subject": subject[:200], "body": body[:4000]}
            await run_sql(
                session,
                _OPEN_TICKET,
                {
                    "id": new_ticket,
                    "tid": inp.tenant_id,
                    "cid": inp.conversation_id,
                    "key": key,
                    **await seal_fields(session, inp.tenant_id, TICKETS, new_ticket, fields),
                },
            )
            ticket_id = (await run_sql(session, _FIND_TICKET, {"key": key})).scalar_one()
        event_id = await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TURN_CUT,
            {
                "message_id": inp.message_id,
                "reason": inp.reason.value,
                "detail": inp.detail,
                "steps": inp.steps,
                "ticket_id": ticket_id,
            },
            dedup_key=f"{inp.message_id}:cut",
        )
        # Counted once the cut is announced: a crash before that retries, so a cut is never missed.
        LOOP_CUT_TOTAL.labels(reason=inp.reason.value).inc()
        log.info("turn cut", reason=inp.reason.value, message_id=inp.message_id, ticket_id=ticket_id, event_id=event_id)
