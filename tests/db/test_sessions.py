"""The tenant session: one transaction bound to one tenant, nothing left on the pooled connection afterwards.

The binding is transaction-local, so these tests watch what a connection carries once a session is over and
what happens when code inside a session tries to end the transaction early.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InvalidRequestError

from db.database import MAX_TENANT_ID_CHARS, Database, run_sql

_CONVERSATION = "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :tid, 'support', 'web')"
_FIND = "SELECT count(*) FROM conversations WHERE id = :id"


async def _add_conversation(db: Database, tenant: str) -> str:
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant) as session:
        await run_sql(session, _CONVERSATION, {"id": conversation_id, "tid": tenant})
    return conversation_id


async def test_the_tenant_does_not_leak_through_the_pool(
    urls_app_single: Database, two_tenants: tuple[str, str]
) -> None:
    db = urls_app_single
    a, _ = two_tenants
    await _add_conversation(db, a)
    async with db.tenant_session(a) as session:
        conn = await session.connection()
        pid_inside = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) == a
        assert await conn.scalar(text("SELECT count(*) FROM conversations")) >= 1

    async with db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) == pid_inside
        assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) in (None, "")
        assert await conn.scalar(text("SELECT count(*) FROM conversations")) == 0


async def test_an_error_rolls_the_session_back(app_db: Database, two_tenants: tuple[str, str]) -> None:
    a, _ = two_tenants
    conversation_id = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with app_db.tenant_session(a) as session:
            await run_sql(session, _CONVERSATION, {"id": conversation_id, "tid": a})
            raise RuntimeError("boom")
    async with app_db.tenant_session(a) as session:
        assert (await run_sql(session, _FIND, {"id": conversation_id})).scalar_one() == 0


async def test_the_transaction_that_carries_the_tenant_can_not_be_left(
    app_db: Database, two_tenants: tuple[str, str]
) -> None:
    a, _ = two_tenants
    # A commit midway would end the transaction that carries the tenant; the session refuses to go on.
    with pytest.raises(InvalidRequestError):
        async with app_db.tenant_session(a) as session:
            await session.commit()
            await run_sql(session, "SELECT count(*) FROM tenants")


@pytest.mark.parametrize("tenant_id", ["", "x" * (MAX_TENANT_ID_CHARS + 1)])
async def test_a_missing_or_oversized_tenant_is_refused(app_db: Database, tenant_id: str) -> None:
    with pytest.raises(ValueError):
        async with app_db.tenant_session(tenant_id):
            pass
