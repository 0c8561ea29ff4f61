"""One verified inbound message to one conversation message, exactly once per provider message id.

After the route has checked the provider's signature, `InboundPipeline.deliver`:
1. claims the provider's message id (`channels.store.claim_delivery`): a repeat claims nothing and is
   refused as a duplicate without touching the conversation;
2. finds the sender's identity on this channel, or maps the sender to the tenant's customer (an email by its
   address, a phone by its number; otherwise a customer is created under a reserved `.invalid` address) and
   opens a conversation for it on the channel's agent, with the channel's kind as the conversation's channel;
3. submits the message as the API does (`api.conversation_runs.submit`: update-with-start, `Channel` search
   attribute), under a message id derived from the provider's, so even a second submission is one message to
   the run; then marks the claim submitted. A submission that failed gives the claim back, so the provider's
   retry is taken.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter
from sqlmodel.ext.asyncio.session import AsyncSession

from api.schemas import ConversationOut, MessageCreate
from channels import store
from channels.media import message_text
from contracts.channels import ChannelKind, InboundMessage
from contracts.conversation import DoubleTexting
from core.crypto.fields import email_hash
from db.database import Database, run_sql

_MESSAGE_NS = uuid.UUID("3d3f8a52-1f0e-4f55-9d3c-6a1c9e0b7a21")
INBOUND = Counter("aiaas_channel_inbound_total", "Inbound channel deliveries by outcome", ["kind", "outcome"])

# (tenant, conversation, message id, body) -> whether the run called it a repeat.
Submitter = Callable[[str, ConversationOut, str, MessageCreate], Awaitable[bool]]


@dataclass(frozen=True)
class Delivered:
    outcome: str  # "accepted" or "duplicate"
    message_id: str
    conversation_id: str | None = None


def message_id_for(channel_id: str, provider_message_id: str) -> str:
    return str(uuid.uuid5(_MESSAGE_NS, f"{channel_id}:{provider_message_id}"))


def _customer_key(kind: str, sender: str) -> tuple[str, str | None]:
    """The customer's email (real for email senders, reserved otherwise) and phone."""
    if kind == ChannelKind.EMAIL:
        return sender.lower(), None
    if kind in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        digits = re.sub(r"\D", "", sender)
        return f"{kind}.{digits}@{kind}.channel.invalid", f"+{digits}"
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sender)[:64]
    return f"{kind}.{safe.lower()}@{kind}.channel.invalid", None


async def _customer(session: AsyncSession, tenant_id: str, kind: str, sender: str) -> str:
    email, phone = _customer_key(kind, sender)
    if phone is not None:
        known = (await run_sql(session, "SELECT id FROM customers WHERE phone = :p LIMIT 1", {"p": phone})).first()
        if known is not None:
            return str(known[0])
    row = (
        await run_sql(
            session,
            "INSERT INTO customers (id, tenant_id, email, name, phone, email_hash)"
            " VALUES (:id, :tid, :email, :name, :phone, :email_hash)"
            " ON CONFLICT (tenant_id, email) DO UPDATE SET email = customers.email RETURNING id",
            {
                "id": str(uuid.uuid4()),
                "tid": tenant_id,
                "email": email,
                "name": sender[:200],
                "phone": phone,
                "email_hash": await email_hash(session, tenant_id, email),
            },
        )
    ).one()
    return str(row[0])


async def _open_conversation(session: AsyncSession, tenant_id: str, channel: store.Channel, customer_id: str) -> str:
    conversation_id = str(uuid.uuid4())
    await run_sql(
        session,
        "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status, customer_id,"
        " created_at, updated_at) VALUES (:id, :tid, :agent, :channel, CAST(:meta AS jsonb), :dt, 'open', :cust,"
        " now(), now())",
        {
            "id": conversation_id,
            "tid": tenant_id,
            "agent": channel.agent,
            "channel": channel.kind,
            "meta": json.dumps({"channel_id": channel.id}),
            "dt": DoubleTexting.ENQUEUE.value,
            "cust": customer_id,
        },
    )
    return conversation_id


async def identity_for(
    session: AsyncSession, tenant_id: str, channel: store.Channel, sender: str, reply_to: str
) -> store.Identity:
    found = await store.find_identity(session, channel.id, sender)
    if found is not None:
        return found
    customer_id = await _customer(session, tenant_id, channel.kind, sender)
    conversation_id = await _open_conversation(session, tenant_id, channel, customer_id)
    identity = store.Identity(customer_id, conversation_id, sender, reply_to)
    return await store.add_identity(session, tenant_id, channel.id, identity)


class InboundPipeline:
    def __init__(self, db: Database, submit: Submitter) -> None:
        self._db = db
        self._submit = submit

    async def deliver(self, tenant_id: str, channel: store.Channel, msg: InboundMessage) -> Delivered:
        message_id = message_id_for(channel.id, msg.provider_message_id)
        async with self._db.tenant_session(tenant_id) as session:
            if not await store.claim_delivery(session, tenant_id, channel.id, msg.provider_message_id, message_id):
                INBOUND.labels(kind=channel.kind, outcome="duplicate").inc()
                return Delivered("duplicate", message_id)
            identity = await identity_for(session, tenant_id, channel, msg.sender, msg.reply_to)
            row = (
                await run_sql(
                    session,
                    "SELECT created_at FROM conversations WHERE id = :id",
                    {"id": identity.conversation_id},
                )
            ).one()
        conversation = ConversationOut(
            id=identity.conversation_id,
            agent=channel.agent,
            channel=channel.kind,
            metadata={"channel_id": channel.id},
            double_texting=DoubleTexting.ENQUEUE,
            created_at=row[0],
            customer_id=identity.customer_id,
        )
        try:
            await self._submit(tenant_id, conversation, message_id, MessageCreate(content=message_text(msg)))
        except BaseException:
            async with self._db.tenant_session(tenant_id) as session:
                await store.release_claim(session, channel.id, msg.provider_message_id)
            INBOUND.labels(kind=channel.kind, outcome="failed").inc()
            raise
        async with self._db.tenant_session(tenant_id) as session:
            await store.mark_submitted(session, channel.id, msg.provider_message_id, identity.conversation_id)
        INBOUND.labels(kind=channel.kind, outcome="accepted").inc()
        return Delivered("accepted", message_id, identity.conversation_id)
