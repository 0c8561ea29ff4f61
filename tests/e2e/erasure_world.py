"""The world the erasure tests look at: two shops (tenants), a customer to erase, a neighbour of the same
tenant and another tenant's customer, each with conversations, sealed records and an approval; then the
erasure itself, its worker SIGKILLed in the middle of its database step. Built once per module (`world`).
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from agents.sealed_records import LEADS, TICKETS, open_fields
from contracts.agents import ApprovalRecordInput, ApprovalStatus
from contracts.names import ACT_ERASURE_DATABASE
from contracts.privacy import erasure_workflow_id
from core.crypto.fields import email_hash
from core.events import EventBus
from core.settings import Settings
from db.codec import connect
from db.database import Database, run_sql, to_async_url
from policies.erasure.store import lock_name
from tenancy.audit import record_event
from tests.e2e.agent_world import Shop, call, conversation, execute, fresh_shop, plan, run_db, turn
from tests.e2e.platform import Platform
from tests.e2e.traces import postgres_hits, redis_hits

_STARTED = 2  # PENDING_ACTIVITY_STATE_STARTED


@dataclass(frozen=True)
class Person:
    customer_id: str
    conversations: list[str]
    values: list[str]


def _person(shop: Shop, label: str) -> Person:
    tag = uuid.uuid4().hex[:10]
    name, email = f"Quill {label.title()}{tag}", f"q.{label}.{tag}@example.org"
    phone = "+44 20 7946 " + "".join(str(int(c, 16) % 10) for c in tag[:4])
    created = shop.api.post("/v1/customers", json={"email": email, "name": name, "phone": phone})
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    secret = f"orchid-{label}-{tag}"
    leads = conversation(shop.api, "leads", customer_id)
    _, frames = turn(
        shop.api,
        leads,
        plan(
            call("leads.capture", name=name, email=email, company=f"Quillworks {tag}", phone=phone, notes=secret),
            call("tickets.create", subject=f"Double charge {tag}", body=f"{secret}: charged twice, call {phone}"),
        ),
    )
    assert any(f.event == "tool.completed" for f in frames), [(f.event, f.data) for f in frames]
    chat = conversation(shop.api, "support", customer_id)
    turn(shop.api, chat, f"Hello, I am {name}, card 4539 1488 0343 6467, reach me on {phone} or {email}; {secret}")
    return Person(customer_id, [leads, chat], [name, email, phone, secret, f"Quillworks {tag}"])


def _attach_records(shop: Shop, person: Person, platform: Platform) -> None:
    """What the API cannot create for a customer directly: an order with a note and a shipment, a knowledge
    document linked to them, and a webhook message about their conversation."""
    tag = person.values[3]
    order, shipment, collection, document = (str(uuid.uuid4()) for _ in range(4))
    sql = [
        (
            "INSERT INTO orders (id, tenant_id, customer_id, total_cents, note) VALUES (:o, :t, :c, 4200, :note)",
            {"note": f"leave with neighbour, {tag}"},
        ),
        (
            "INSERT INTO shipments (id, tenant_id, order_id, carrier, tracking_number) "
            "VALUES (:s, :t, :o, 'sandbox', :track)",
            {"track": f"TRK-{tag}"},
        ),
        (
            "INSERT INTO knowledge_collections (tenant_id, id, name, embedding_model, embedding_dim) "
            "VALUES (:t, :k, :kn, 'm', 3)",
            {"kn": f"uploads {uuid.uuid4().hex[:8]}"},
        ),
        (
            "INSERT INTO knowledge_documents (tenant_id, id, collection_id, filename, media_type, size_bytes, "
            "content_sha256, metadata) VALUES (:t, :d, :k, 'note.txt', 'text/plain', 10, :sha, "
            "CAST(:meta AS jsonb))",
            {"sha": uuid.uuid4().hex * 2, "meta": f'{{"customer_id": "{person.customer_id}"}}'},
        ),
        (
            "INSERT INTO knowledge_sources (tenant_id, document_id, content) VALUES (:t, :d, :blob)",
            {"blob": tag.encode()},
        ),
        (
            "INSERT INTO knowledge_chunks (tenant_id, document_id, ord, collection_id, text) "
            "VALUES (:t, :d, 0, :k, :chunk)",
            {"chunk": f"uploaded by the customer: {tag}"},
        ),
        (
            "INSERT INTO webhook_messages (tenant_id, id, event_type, idempotency_key, payload) "
            "VALUES (:t, :w, 'conversation.closed', :w, :payload)",
            {"w": str(uuid.uuid4()), "payload": f'{{"conversation_id": "{person.conversations[0]}"}}'},
        ),
    ]
    ids = {"o": order, "s": shipment, "k": collection, "d": document, "t": shop.tenant_id, "c": person.customer_id}
    for statement, params in sql:
        names = {name: value for name, value in ids.items() if f":{name}" in statement}
        execute(platform.settings, shop.tenant_id, statement, **names, **params)
    _request_approval(platform.settings, shop.tenant_id, person)


def _request_approval(settings: Settings, tenant_id: str, person: Person) -> None:
    """A refund in their conversation put to staff and denied, through the approvals activity: the row and the
    audit events `approval.requested` and `approval.denied`, arguments and note quoting them, sealed."""
    base = {
        "tenant_id": tenant_id,
        "conversation_id": person.conversations[1],
        "approval_id": str(uuid.uuid4()),
        "message_id": str(uuid.uuid4()),
        "call_id": "c1",
        "tool": "orders.refund",
        "arguments": {"reason": f"{person.values[3]}, call {person.values[2]}"},
    }

    async def record(db: Database) -> None:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            activities, env = ApprovalActivities(db, EventBus(redis)), ActivityEnvironment()
            await env.run(activities.record, ApprovalRecordInput(**base, status=ApprovalStatus.PENDING))
            denied = ApprovalRecordInput(
                **base, status=ApprovalStatus.DENIED, note=person.values[0], decided_by="user:staff"
            )
            await env.run(activities.record, denied)
        finally:
            await redis.aclose()

    run_db(settings, record)


def _record_as_before_sealing(settings: Settings, tenant_id: str, person: Person) -> None:
    """An approval in their first conversation audited as before migration 0033 did: the arguments and the
    note in clear details, which the chain's hashes commit to (`tests/tenancy/test_audit_reseal.py`)."""

    async def record(db: Database) -> None:
        ids = {"conversation_id": person.conversations[0], "tool": "orders.refund"}
        async with db.tenant_session(tenant_id) as session:
            for action, extra in (
                ("approval.requested", {"arguments": {"reason": f"{person.values[3]}, call {person.values[2]}"}}),
                ("approval.denied", {"note": person.values[0]}),
            ):
                await record_event(
                    session, tenant_id=tenant_id, actor="workflow", action=action, details={**ids, **extra}
                )

    run_db(settings, record)


def approval_events(shop: Shop, person: Person) -> list[dict[str, Any]]:
    """Their conversation's approval events in the audit log, as the API lists them."""
    events = shop.api.get("/v1/audit", params={"limit": 200}).json()["items"]
    return [e for e in events if e["details"].get("conversation_id") == person.conversations[1]]


def sealed_rows(platform: Platform, shop: Shop, person: Person) -> dict[str, int]:
    """Their rows in the sealed tables, found as erasure finds them: by keyed hash and by conversation."""

    async def count(db: Database) -> dict[str, int]:
        async with db.tenant_session(shop.tenant_id) as session:
            hashed = await email_hash(session, shop.tenant_id, person.values[1])
            params = {"h": hashed, "convs": person.conversations}
            found = {}
            for name, sql in (
                ("leads", "SELECT count(*) FROM leads WHERE email_hash = :h"),
                ("tickets", "SELECT count(*) FROM tickets WHERE conversation_id = ANY(CAST(:convs AS text[]))"),
                ("contacts", "SELECT count(*) FROM sandbox_crm_contacts WHERE email_hash = :h"),
                ("approvals", "SELECT count(*) FROM approvals WHERE conversation_id = ANY(CAST(:convs AS text[]))"),
            ):
                found[name] = int((await run_sql(session, sql, params)).scalar_one())
            return found

    return run_db(platform.settings, count)


def rows_opened(platform: Platform, shop: Shop, person: Person) -> dict[str, dict[str, Any]]:
    """Their lead and ticket in clear, opened as the tools open them."""

    async def read(db: Database) -> dict[str, dict[str, Any]]:
        async with db.tenant_session(shop.tenant_id) as session:
            hashed = await email_hash(session, shop.tenant_id, person.values[1])
            lead = (
                await run_sql(session, f"SELECT {LEADS.columns} FROM leads WHERE email_hash = :h", {"h": hashed})
            ).one()
            ticket = (
                await run_sql(
                    session,
                    f"SELECT {TICKETS.columns} FROM tickets WHERE conversation_id = :c",
                    {"c": person.conversations[0]},
                )
            ).one()
            return {
                "lead": await open_fields(session, LEADS, lead),
                "ticket": await open_fields(session, TICKETS, ticket),
            }

    return run_db(platform.settings, read)


@dataclass(frozen=True)
class World:
    shop: Shop
    other_shop: Shop
    target: Person
    neighbour: Person
    stranger: Person
    erasure: dict[str, Any]
    database_attempts: int


async def _erase_with_a_kill(platform: Platform, shop: Shop, customer_id: str) -> tuple[dict[str, Any], int]:
    """Request the erasure while holding its lock, kill the worker once the database step waits on it, let go,
    restart the worker, and wait for the report."""
    engine = create_async_engine(to_async_url(platform.settings.database_url or ""))
    client = await connect(platform.settings)
    try:
        async with engine.connect() as holder:
            lock = text("SELECT pg_advisory_lock(hashtextextended(:name, 0))")
            await holder.execute(lock, {"name": lock_name(customer_id)})
            response = shop.api.post(f"/v1/customers/{customer_id}/erasure")
            assert response.status_code == 202, response.text
            erasure_id = response.json()["id"]
            handle = client.get_workflow_handle(erasure_workflow_id(shop.tenant_id, erasure_id))
            deadline = time.monotonic() + 60
            while True:
                pending = (await handle.describe()).raw_description.pending_activities
                if any(a.activity_type.name == ACT_ERASURE_DATABASE and a.state == _STARTED for a in pending):
                    break
                assert time.monotonic() < deadline, "the database step never started"
                await asyncio.sleep(0.2)
            platform.kill_worker()
            unlock = text("SELECT pg_advisory_unlock(hashtextextended(:name, 0))")
            await holder.execute(unlock, {"name": lock_name(customer_id)})
        platform.start_worker()
        deadline = time.monotonic() + 120
        while (erasure := shop.api.get(f"/v1/erasures/{erasure_id}").json())["status"] != "completed":
            assert time.monotonic() < deadline, erasure
            await asyncio.sleep(0.5)
        history = await handle.fetch_history()
        attempts = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
        ]
        scheduled = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        }
        database = [
            e.activity_task_started_event_attributes.attempt
            for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and scheduled[e.activity_task_started_event_attributes.scheduled_event_id] == ACT_ERASURE_DATABASE
        ]
        assert attempts, "no activity ran"
        return erasure, max(database)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def world(platform: Platform) -> Iterator[World]:
    with fresh_shop(platform, "Erasure") as shop, fresh_shop(platform, "Erasure other") as other_shop:
        target = _person(shop, "target")
        neighbour = _person(shop, "neighbour")
        stranger = _person(other_shop, "stranger")
        _attach_records(shop, target, platform)
        _attach_records(shop, neighbour, platform)
        # Another tenant's customer has an approval too, in its own tenant: erasure must not reach it.
        _request_approval(platform.settings, other_shop.tenant_id, stranger)
        for shop_of, person in ((shop, target), (shop, neighbour), (other_shop, stranger)):
            _record_as_before_sealing(platform.settings, shop_of.tenant_id, person)
        # Everything the tools wrote of them is sealed at rest: the scan finds their values only in clear copies
        # outside the sealed tables (an order's note, a knowledge chunk, audit events from before sealing),
        # while the sealed rows are there.
        before = postgres_hits(platform.settings, target.values)
        sealed_tables = {"public.leads", "public.tickets", "public.sandbox_crm_contacts", "public.approvals"}
        found_in = {table for found in before.values() for table in found}
        assert not sealed_tables & found_in and "audit.events" in found_in, before
        # The audit log opens what it sealed for the tenant's readers.
        events = approval_events(shop, target)
        assert [(e["action"], e["sealed_state"]) for e in events] == [
            ("approval.denied", "opened"),
            ("approval.requested", "opened"),
        ]
        assert events[0]["sealed_details"] == {"note": target.values[0]}
        assert sealed_rows(platform, shop, target) == {"leads": 1, "tickets": 1, "contacts": 1, "approvals": 1}
        assert redis_hits(platform.settings, target.values), "the conversations left no events to erase"
        erasure, attempts = asyncio.run(_erase_with_a_kill(platform, shop, target.customer_id))
        yield World(shop, other_shop, target, neighbour, stranger, erasure, attempts)
