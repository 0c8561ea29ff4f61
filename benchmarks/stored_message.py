"""A customer's message stored the way the gateway stores one, for benchmarks that call activities directly."""

from __future__ import annotations

import uuid

from agents import transcripts
from db.database import Database, run_sql


async def stored_message(db: Database, tenant_id: str, text: str) -> tuple[str, str]:
    """A new `support` conversation of the tenant holding `text` as its first message: (conversation, message)."""
    conversation_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:c, :t, 'support', 'api')",
            {"c": conversation_id, "t": tenant_id},
        )
        await transcripts.insert_user_message(
            session,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            message_id=message_id,
            content=text,
            client_message_id=None,
        )
    return conversation_id, message_id
