"""The channel tables: configurations, sender identities, the inbound deduplication record and sent replies.

Every function takes a session bound to the tenant (`Database.tenant_session`): row-level security keeps one
tenant's channels, identities and deliveries invisible to another, and an id of another tenant reads as
missing.

Deduplication is a row per provider message id (`channel_inbound`), claimed by the one delivery whose INSERT
made it. Postgres rather than a Redis key with a TTL: providers retry for longer than a cache should be
trusted to remember (Meta for up to seven days, Mailgun for eight hours, Twilio and Slack for minutes), a
Redis eviction or failover would forget silently, and the row is written in the same database, under the
same RLS, as the conversation it leads to. A claim left by a delivery that died before it submitted is taken
over after `CLAIM_SECONDS`, so a crash loses no message; a delivery that failed gives its claim back at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

# Longer than the gateway's wait for a run to confirm a message (15 s) plus its own handling.
CLAIM_SECONDS = 60
_CHANNEL = (
    "id, kind, name, agent, enabled, provider_url, settings, secret_ciphertext, token_ciphertext, public_key,"
    " created_at"
)


@dataclass(frozen=True)
class Channel:
    id: str
    kind: str
    name: str
    agent: str
    enabled: bool
    provider_url: str
    settings: dict[str, Any]
    secret_ciphertext: bytes | None
    token_ciphertext: bytes | None
    public_key: str | None
    created_at: datetime

    def __repr__(self) -> str:
        return f"Channel({self.id!r}, {self.kind!r}, enabled={self.enabled})"


@dataclass(frozen=True)
class Identity:
    customer_id: str
    conversation_id: str
    external_id: str
    reply_to: str


def _identity(row: Any) -> Identity:
    m = row._mapping
    return Identity(str(m["customer_id"]), str(m["conversation_id"]), str(m["external_id"]), str(m["reply_to"]))


def _channel(row: Any) -> Channel:
    data = dict(row._mapping)
    if isinstance(data["settings"], str):
        data["settings"] = json.loads(data["settings"])
    for key in ("secret_ciphertext", "token_ciphertext"):
        if data[key] is not None:
            data[key] = bytes(data[key])
    return Channel(**data)


async def create_channel(
    session: AsyncSession,
    tenant_id: str,
    *,
    channel_id: str,
    kind: str,
    name: str,
    agent: str,
    provider_url: str,
    settings: dict[str, Any],
    secret_ciphertext: bytes | None,
    token_ciphertext: bytes | None,
    public_key: str | None,
) -> Channel:
    row = (
        await run_sql(
            session,
            "INSERT INTO channels (id, tenant_id, kind, name, agent, provider_url, settings, secret_ciphertext,"  # noqa: S608
            " token_ciphertext, public_key) VALUES (:id, :tid, :kind, :name, :agent, :url, CAST(:settings AS jsonb),"
            f" :secret, :token, :pk) RETURNING {_CHANNEL}",
            {
                "id": channel_id,
                "tid": tenant_id,
                "kind": kind,
                "name": name,
                "agent": agent,
                "url": provider_url,
                "settings": json.dumps(settings),
                "secret": secret_ciphertext,
                "token": token_ciphertext,
                "pk": public_key,
            },
        )
    ).one()
    return _channel(row)


async def get_channel(session: AsyncSession, channel_id: str) -> Channel | None:
    row = (await run_sql(session, f"SELECT {_CHANNEL} FROM channels WHERE id = :id", {"id": channel_id})).first()  # noqa: S608
    return _channel(row) if row else None


async def channel_by_public_key(session: AsyncSession, public_key: str) -> Channel | None:
    row = (
        await run_sql(session, f"SELECT {_CHANNEL} FROM channels WHERE public_key = :pk", {"pk": public_key})  # noqa: S608
    ).first()
    return _channel(row) if row else None


async def list_channels(session: AsyncSession, *, limit: int, after: tuple[datetime, str] | None) -> list[Channel]:
    sql = f"SELECT {_CHANNEL} FROM channels"  # noqa: S608
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        sql += " WHERE (created_at, id) > (:at, :id)"
        params.update(at=after[0], id=after[1])
    rows = await run_sql(session, sql + " ORDER BY created_at, id LIMIT :limit", params)
    return [_channel(r) for r in rows]


async def update_channel(session: AsyncSession, channel_id: str, **changes: Any) -> Channel | None:
    if not changes:
        return await get_channel(session, channel_id)
    if "settings" in changes:
        changes["settings"] = json.dumps(changes["settings"])
    sets = ", ".join(f"{k} = CAST(:{k} AS jsonb)" if k == "settings" else f"{k} = :{k}" for k in changes)
    row = (
        await run_sql(
            session,
            f"UPDATE channels SET {sets}, updated_at = now() WHERE id = :id RETURNING {_CHANNEL}",  # noqa: S608
            {**changes, "id": channel_id},
        )
    ).first()
    return _channel(row) if row else None


async def delete_channel(session: AsyncSession, channel_id: str) -> bool:
    result = await run_sql(session, "DELETE FROM channels WHERE id = :id", {"id": channel_id})
    return bool(getattr(result, "rowcount", 0))


# ---- identities ----------------------------------------------------------------------------------------


async def find_identity(session: AsyncSession, channel_id: str, external_id: str) -> Identity | None:
    row = (
        await run_sql(
            session,
            "SELECT customer_id, conversation_id, external_id, reply_to FROM channel_identities"
            " WHERE channel_id = :ch AND external_id = :ext",
            {"ch": channel_id, "ext": external_id},
        )
    ).first()
    return _identity(row) if row else None


async def identity_for_conversation(session: AsyncSession, conversation_id: str) -> tuple[str, Identity] | None:
    row = (
        await run_sql(
            session,
            "SELECT channel_id, customer_id, conversation_id, external_id, reply_to FROM channel_identities"
            " WHERE conversation_id = :c",
            {"c": conversation_id},
        )
    ).first()
    return (str(row._mapping["channel_id"]), _identity(row)) if row else None


async def add_identity(session: AsyncSession, tenant_id: str, channel_id: str, identity: Identity) -> Identity:
    """Insert the mapping, or return the one a concurrent first message of the same sender inserted."""
    await run_sql(
        session,
        "INSERT INTO channel_identities (tenant_id, channel_id, external_id, customer_id, conversation_id, reply_to)"
        " VALUES (:tid, :ch, :ext, :cust, :conv, :reply) ON CONFLICT (tenant_id, channel_id, external_id) DO NOTHING",
        {
            "tid": tenant_id,
            "ch": channel_id,
            "ext": identity.external_id,
            "cust": identity.customer_id,
            "conv": identity.conversation_id,
            "reply": identity.reply_to,
        },
    )
    found = await find_identity(session, channel_id, identity.external_id)
    assert found is not None  # inserted or already there, in this transaction's view
    return found


# ---- deduplication -------------------------------------------------------------------------------------


async def claim_delivery(
    session: AsyncSession, tenant_id: str, channel_id: str, provider_message_id: str, message_id: str
) -> bool:
    """True when this delivery is the one to submit the message: it inserted the row, or took over a claim
    left by a delivery that died. False for a repeat (submitted, or being submitted right now)."""
    inserted = await run_sql(
        session,
        "INSERT INTO channel_inbound (tenant_id, channel_id, provider_message_id, message_id)"
        " VALUES (:tid, :ch, :pmid, :mid) ON CONFLICT DO NOTHING RETURNING 1",
        {"tid": tenant_id, "ch": channel_id, "pmid": provider_message_id, "mid": message_id},
    )
    if inserted.first() is not None:
        return True
    taken = await run_sql(
        session,
        "UPDATE channel_inbound SET claimed_at = now() WHERE channel_id = :ch AND provider_message_id = :pmid"  # noqa: S608
        f" AND state = 'claimed' AND claimed_at < now() - interval '{CLAIM_SECONDS} seconds' RETURNING 1",
        {"ch": channel_id, "pmid": provider_message_id},
    )
    return taken.first() is not None


async def mark_submitted(
    session: AsyncSession, channel_id: str, provider_message_id: str, conversation_id: str
) -> None:
    await run_sql(
        session,
        "UPDATE channel_inbound SET state = 'submitted', conversation_id = :conv"
        " WHERE channel_id = :ch AND provider_message_id = :pmid",
        {"ch": channel_id, "pmid": provider_message_id, "conv": conversation_id},
    )


async def release_claim(session: AsyncSession, channel_id: str, provider_message_id: str) -> None:
    """The delivery failed before the run took the message in: the provider's retry may claim it again."""
    await run_sql(
        session,
        "DELETE FROM channel_inbound WHERE channel_id = :ch AND provider_message_id = :pmid AND state = 'claimed'",
        {"ch": channel_id, "pmid": provider_message_id},
    )


# Meta retries a webhook for up to 7 days, the longest window of the providers here (Twilio, Slack and
# Mailgun give up within hours): a deduplication row older than this is never looked up by a retry again.
INBOUND_KEEP_DAYS = 8


async def prune_inbound(session: AsyncSession, limit: int, days: int = INBOUND_KEEP_DAYS) -> int:
    """Delete up to `limit` deduplication rows older than `days` (of the session's tenant); how many."""
    result = await run_sql(
        session,
        "DELETE FROM channel_inbound WHERE ctid = ANY(ARRAY(SELECT ctid FROM channel_inbound"
        " WHERE created_at < now() - make_interval(days => :days) LIMIT :n))",
        {"days": days, "n": limit},
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---- replies -------------------------------------------------------------------------------------------


async def reply_sent(session: AsyncSession, reply_key: str) -> bool:
    found = await run_sql(session, "SELECT 1 FROM channel_replies WHERE reply_key = :k", {"k": reply_key})
    return found.first() is not None


async def record_reply(
    session: AsyncSession, tenant_id: str, reply_key: str, conversation_id: str, status_code: int
) -> None:
    await run_sql(
        session,
        "INSERT INTO channel_replies (tenant_id, reply_key, conversation_id, status_code)"
        " VALUES (:tid, :k, :c, :s) ON CONFLICT DO NOTHING",
        {"tid": tenant_id, "k": reply_key, "c": conversation_id, "s": status_code},
    )
