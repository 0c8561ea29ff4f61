"""Row-level security as the application role sees it: one tenant per transaction, nothing without one."""

from __future__ import annotations

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidRequestError
from sqlmodel import col, select

from db.database import Database
from db.tables import ApiKey, Conversation, Message, Tenant


async def _seed(db: Database, tenant_id: str) -> tuple[str, str]:
    async with db.tenant_session(tenant_id) as session:
        conversation = Conversation(tenant_id=tenant_id, agent="support", channel="web", meta={"k": "v"})
        session.add(conversation)
        await session.flush()
        message = Message(tenant_id=tenant_id, conversation_id=conversation.id, role="user", content="hello")
        session.add(message)
        await session.flush()
        assert message.seq is not None
        return conversation.id, message.id


async def test_a_tenant_sees_only_its_own_rows(app_db: Database, two_tenants: tuple[str, str]) -> None:
    a, b = two_tenants
    conv_a, msg_a = await _seed(app_db, a)
    conv_b, msg_b = await _seed(app_db, b)

    async with app_db.tenant_session(a) as session:
        assert {c.tenant_id for c in (await session.exec(select(Conversation))).all()} == {a}
        assert {m.tenant_id for m in (await session.exec(select(Message))).all()} == {a}
        assert [t.id for t in (await session.exec(select(Tenant))).all()] == [a]
        assert {k.tenant_id for k in (await session.exec(select(ApiKey))).all()} == {a}
        assert await session.get(Conversation, conv_b) is None
        assert await session.get(Message, msg_b) is None
        assert await session.get(Message, msg_a) is not None

        changed = await session.exec(update(Message).where(col(Message.id) == msg_b).values(content="pwned"))
        assert changed.rowcount == 0
        changed = await session.exec(update(Conversation).values(status="closed"))
        assert changed.rowcount == 1

    async with app_db.tenant_session(b) as session:
        message = await session.get(Message, msg_b)
        assert message is not None and message.content == "hello"
        conversation = await session.get(Conversation, conv_b)
        assert conversation is not None and conversation.status == "open"
        assert conv_a != conv_b


async def test_cannot_write_rows_for_another_tenant(app_db: Database, two_tenants: tuple[str, str]) -> None:
    a, b = two_tenants
    conv_a, _ = await _seed(app_db, a)
    conv_b, _ = await _seed(app_db, b)

    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_db.tenant_session(a) as session:
            session.add(Conversation(tenant_id=b, agent="support", channel="web"))

    with pytest.raises(DBAPIError, match="row-level security"):
        async with app_db.tenant_session(a) as session:
            await session.exec(update(Conversation).where(col(Conversation.id) == conv_a).values(tenant_id=b))

    # Foreign-key checks ignore row-level security, so the key includes the tenant: a message of A cannot
    # hang off B's conversation even by someone who learned its id.
    with pytest.raises(IntegrityError):
        async with app_db.tenant_session(a) as session:
            session.add(Message(tenant_id=a, conversation_id=conv_b, role="user", content="hi"))


async def test_the_app_role_cannot_create_tenants(app_db: Database) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        async with app_db.tenant_session("some-tenant") as session:
            session.add(Tenant(id="some-tenant", name="x", slug="x-some-tenant"))


async def test_without_a_tenant_nothing_is_visible(app_db: Database, two_tenants: tuple[str, str]) -> None:
    await _seed(app_db, two_tenants[0])
    async with app_db.engine.connect() as conn:
        for table in ("tenants", "api_keys", "conversations", "messages"):
            assert await conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table  # noqa: S608


async def test_tenant_setting_does_not_leak_through_the_pool(
    urls_app_single: Database, two_tenants: tuple[str, str]
) -> None:
    db = urls_app_single
    a, _ = two_tenants
    await _seed(db, a)
    async with db.tenant_session(a) as session:
        conn = await session.connection()
        pid_inside = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) == a
        assert await conn.scalar(text("SELECT count(*) FROM conversations")) >= 1

    async with db.engine.connect() as conn:
        assert await conn.scalar(text("SELECT pg_backend_pid()")) == pid_inside
        assert await conn.scalar(text("SELECT current_setting('app.tenant_id', true)")) in (None, "")
        assert await conn.scalar(text("SELECT count(*) FROM conversations")) == 0


async def test_error_rolls_back_and_the_transaction_cannot_be_left(
    app_db: Database, two_tenants: tuple[str, str]
) -> None:
    a, _ = two_tenants
    conversation = Conversation(tenant_id=a, agent="support", channel="web")
    with pytest.raises(RuntimeError):
        async with app_db.tenant_session(a) as session:
            session.add(conversation)
            await session.flush()
            raise RuntimeError("boom")
    async with app_db.tenant_session(a) as session:
        assert await session.get(Conversation, conversation.id) is None
    # A commit midway would end the transaction that carries the tenant; the session refuses to go on.
    with pytest.raises(InvalidRequestError):
        async with app_db.tenant_session(a) as session:
            await session.commit()
            await session.exec(select(Tenant))


async def test_empty_tenant_is_refused(app_db: Database) -> None:
    with pytest.raises(ValueError):
        async with app_db.tenant_session(""):
            pass
