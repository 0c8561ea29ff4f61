"""Conversation persistence activities: record a message, complete or fail a turn.

Each writes its transcript row idempotently (by message id) and then announces the fact on the event
stream with a dedup key, so a retry, a replay or a worker crash between the two steps never produces a
second row or a second announcement. Recording a user message is an ordinary activity, scheduled by the
workflow task that accepts the message, so nobody sees a message the run has not taken in; the others are
short local activities of a turn already under way. The turn's concurrent-turn lease is the workflow's to
give back (`activities.turn_lease`). A turn that fails keeps the agent that had it on its question's row
(`messages.agent`), as an answer keeps the agent that gave it.
"""

from __future__ import annotations

from temporalio import activity

from agents import transcripts
from agents.stamp import agent_stamp
from contracts.conversation import (
    CompleteTurnInput,
    CompleteTurnResult,
    RecordedMessage,
    RecordUserMessageInput,
    TurnFailedInput,
)
from contracts.events import EventType
from contracts.names import ACT_COMPLETE_TURN, ACT_RECORD_USER_MESSAGE, ACT_TURN_FAILED
from core.events import EventBus
from core.metric_labels import tenant_label
from core.telemetry import TURN_SECONDS, TURNS_FINISHED
from db.database import Database


class ConversationActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    @activity.defn(name=ACT_RECORD_USER_MESSAGE)
    async def record_user_message(self, inp: RecordUserMessageInput) -> RecordedMessage:
        async with self._db.tenant_session(inp.tenant_id) as session:
            answered = await transcripts.record_user_message(
                session,
                tenant_id=inp.tenant_id,
                conversation_id=inp.conversation_id,
                message_id=inp.message_id,
                content=inp.content,
                client_message_id=inp.client_message_id,
            )
            # Read in the same transaction: the run reuses its agent while this does not move (`agents.stamp`).
            stamp = await agent_stamp(session, inp.agent) if inp.agent and not answered else ""
        if answered:
            # A repeat of a message answered long ago: announcing it again would tell clients it is new.
            return RecordedMessage(answered=True)
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.MESSAGE_ACCEPTED,
            {"message_id": inp.message_id, "client_message_id": inp.client_message_id},
            dedup_key=f"{inp.message_id}:accepted",
        )
        return RecordedMessage(agent_stamp=stamp)

    @activity.defn(name=ACT_COMPLETE_TURN)
    async def complete_turn(self, inp: CompleteTurnInput) -> CompleteTurnResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            assistant_id, turn_seconds = await transcripts.insert_assistant_message(
                session,
                tenant_id=inp.tenant_id,
                conversation_id=inp.conversation_id,
                reply_to=inp.reply_to,
                content=inp.content,
                model=inp.model,
                agent=inp.agent,
            )
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.MESSAGE_COMPLETED,
            {
                "message_id": assistant_id,
                "reply_to": inp.reply_to,
                "content": inp.content,
                "model": inp.model,
                "usage": {"prompt_tokens": inp.prompt_tokens, "completion_tokens": inp.completion_tokens},
            },
            dedup_key=f"{inp.reply_to}:completed",
        )
        tenant = tenant_label(inp.tenant_id)
        TURNS_FINISHED.labels(outcome="completed", tenant=tenant).inc()
        if turn_seconds is not None:
            TURN_SECONDS.labels(tenant=tenant).observe(turn_seconds)
        return CompleteTurnResult(assistant_message_id=assistant_id)

    @activity.defn(name=ACT_TURN_FAILED)
    async def turn_failed(self, inp: TurnFailedInput) -> None:
        if inp.agent:
            # No answer will say which agent had the turn: the question's row does (canary accounting).
            async with self._db.tenant_session(inp.tenant_id) as session:
                await transcripts.record_failed_agent(session, message_id=inp.message_id, agent=inp.agent)
        await self._bus.publish(
            inp.tenant_id,
            inp.conversation_id,
            EventType.TURN_FAILED,
            {"message_id": inp.message_id, "reason": inp.reason, "error_type": inp.error_type},
            dedup_key=f"{inp.message_id}:failed",
        )
        TURNS_FINISHED.labels(outcome="failed", tenant=tenant_label(inp.tenant_id)).inc()
