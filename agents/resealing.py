"""Re-encrypting a tenant's sealed fields under its active data key, a batch at a time (key rotation).

Messages, tool calls and the end-customer fields of leads, CRM contacts, tickets and approvals
(`agents.sealed_records`); customers from before keyed email hashes get theirs; the keys of audit events'
sealed parts are wrapped again (`tenancy.audit_sealing.rewrap`), their ciphertext, which the chain hashes, kept.

A row needs it when its `key_version` is NULL (some field still in clear, written before sealing) or older than
the target version. Each batch locks its rows (`FOR UPDATE SKIP LOCKED`, so a turn writing beside it or a
second worker never waits on or repeats it), opens them with whatever version they carry, seals them again and
commits. Nothing else is recorded: the rows themselves say what is left, so a killed run resumes exactly
where it stopped and a repeated batch finds nothing to do.
"""

# ruff: noqa: S608  # statements assembled from this module's constants; every value is a bound parameter
from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from agents import sealed_records, steps, transcripts
from core.crypto.fields import email_hash
from db.database import run_sql
from tenancy import audit_sealing

_STALE = "(key_version IS NULL OR key_version < :target)"
_MESSAGES = (
    f"SELECT tenant_id, id, content, content_sealed FROM messages WHERE {_STALE}"
    " ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
)
# One statement per batch, not per row: the batch's values as arrays.
_MESSAGE_UPDATE = (
    "UPDATE messages m SET content = '', content_sealed = u.sealed, key_version = u.key_version"
    " FROM unnest(CAST(:ids AS text[]), CAST(:sealed AS bytea[]), CAST(:versions AS int[]))"
    " AS u(id, sealed, key_version) WHERE m.id = u.id"
)
_CALLS = (
    f"SELECT tenant_id, message_id, call_id, arguments, arguments_sealed, output, output_sealed, message"
    f" FROM tool_calls WHERE {_STALE} ORDER BY created_at LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_CALL_UPDATE = (
    "UPDATE tool_calls t SET arguments = '{}'::jsonb, output = '{}'::jsonb, message = '',"
    " arguments_sealed = u.arguments_sealed, output_sealed = u.output_sealed, key_version = u.key_version"
    " FROM unnest(CAST(:message_ids AS text[]), CAST(:call_ids AS text[]), CAST(:arguments AS bytea[]),"
    " CAST(:outputs AS bytea[]), CAST(:versions AS int[]))"
    " AS u(message_id, call_id, arguments_sealed, output_sealed, key_version)"
    " WHERE t.tenant_id = :tenant_id AND t.message_id = u.message_id AND t.call_id = u.call_id"
)
_UNHASHED = "SELECT id, email FROM customers WHERE email_hash IS NULL ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
_REMAINING = (
    f"SELECT (SELECT count(*) FROM messages WHERE {_STALE}) + (SELECT count(*) FROM tool_calls WHERE {_STALE})"
    " + (SELECT count(*) FROM customers WHERE email_hash IS NULL) + "
    + sealed_records.remaining_sql()
    + " + "
    + audit_sealing.remaining_sql()
)


async def reseal_messages(session: AsyncSession, tenant_id: str, *, target: int, limit: int) -> int:
    """Re-encrypt up to `limit` of the session tenant's messages below `target`; how many were."""
    rows = (await run_sql(session, _MESSAGES, {"target": target, "limit": limit})).all()
    ids, blobs, versions = [], [], []
    for row in rows:
        text = await transcripts.open_content(session, row)
        sealed = await transcripts.seal_content(session, tenant_id, str(row.id), text)
        ids.append(str(row.id))
        blobs.append(sealed["sealed"])
        versions.append(sealed["key_version"])
    if rows:
        await run_sql(session, _MESSAGE_UPDATE, {"ids": ids, "sealed": blobs, "versions": versions})
    return len(rows)


async def reseal_tool_calls(session: AsyncSession, tenant_id: str, *, target: int, limit: int) -> int:
    """Re-encrypt up to `limit` of the session tenant's tool calls below `target`; how many were."""
    rows = (await run_sql(session, _CALLS, {"target": target, "limit": limit})).all()
    batch: dict[str, list] = {"message_ids": [], "call_ids": [], "arguments": [], "outputs": [], "versions": []}
    for row in rows:
        arguments, output, message = await steps.open_call(session, row)
        key = steps.row_key(str(row.message_id), str(row.call_id))
        sealed = await steps.seal_call(session, tenant_id, key, arguments, output, message)
        batch["message_ids"].append(str(row.message_id))
        batch["call_ids"].append(str(row.call_id))
        batch["arguments"].append(sealed["arguments_sealed"])
        batch["outputs"].append(sealed["output_sealed"])
        batch["versions"].append(sealed["key_version"])
    if rows:
        await run_sql(session, _CALL_UPDATE, {"tenant_id": tenant_id, **batch})
    return len(rows)


async def hash_customer_emails(session: AsyncSession, tenant_id: str, *, limit: int) -> int:
    """Give up to `limit` customers from before keyed email hashes theirs; how many were."""
    rows = (await run_sql(session, _UNHASHED, {"limit": limit})).all()
    for row in rows:
        hashed = await email_hash(session, tenant_id, str(row.email))
        await run_sql(session, "UPDATE customers SET email_hash = :h WHERE id = :id", {"h": hashed, "id": row.id})
    return len(rows)


async def remaining(session: AsyncSession, *, target: int) -> int:
    """Rows of the session's tenant with a field in clear or under a version below `target`."""
    return int((await run_sql(session, _REMAINING, {"target": target})).scalar_one())


async def reseal_records(session: AsyncSession, tenant_id: str, *, target: int, limit: int) -> int:
    """Re-encrypt up to `limit` rows of each of leads, CRM contacts, tickets and approvals below `target`
    (sealing those still in clear); the most done in any one table, so a batch short of `limit` means done."""
    done = 0
    for table in sealed_records.TABLES:
        done = max(done, await sealed_records.reseal(session, tenant_id, table, target=target, limit=limit))
    # The audit log's sealed parts: only their own keys are wrapped again; the hashed ciphertext stays.
    return max(done, await audit_sealing.rewrap(session, tenant_id, target=target, limit=limit))
