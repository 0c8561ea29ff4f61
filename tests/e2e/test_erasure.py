"""Erasure of one end customer through the running platform: real conversations (tool calls, a ticket, a lead
and its CRM contact, an approval; all sealed at rest, found by keyed hash and conversation),
an `ErasureWorkflow` whose worker is SIGKILLed in the middle of its database step, and then a scan of every
row of Postgres and every key of Redis for the customer's values. A neighbour of the same tenant and another
tenant's customer keep theirs. The signed report verifies, and altered or foreign reports do not.
"""

# ruff: noqa: S608  # column lists from agents.sealed_records constants; values are bound parameters
from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
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
from policies.erasure.signing import canonical
from policies.erasure.store import lock_name
from tenancy.audit import record_event
from tests.e2e.agent_world import Shop, call, conversation, execute, fresh_shop, plan, rows, run_db, turn
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


def _approval_events(shop: Shop, person: Person) -> list[dict[str, Any]]:
    """Their conversation's approval events in the audit log, as the API lists them."""
    events = shop.api.get("/v1/audit", params={"limit": 200}).json()["items"]
    return [e for e in events if e["details"].get("conversation_id") == person.conversations[1]]


def _sealed_rows(platform: Platform, shop: Shop, person: Person) -> dict[str, int]:
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
        events = _approval_events(shop, target)
        assert [(e["action"], e["sealed_state"]) for e in events] == [
            ("approval.denied", "opened"),
            ("approval.requested", "opened"),
        ]
        assert events[0]["sealed_details"] == {"note": target.values[0]}
        assert _sealed_rows(platform, shop, target) == {"leads": 1, "tickets": 1, "contacts": 1, "approvals": 1}
        assert redis_hits(platform.settings, target.values), "the conversations left no events to erase"
        erasure, attempts = asyncio.run(_erase_with_a_kill(platform, shop, target.customer_id))
        yield World(shop, other_shop, target, neighbour, stranger, erasure, attempts)


def test_the_erasure_survives_a_worker_killed_in_its_database_step(world: World) -> None:
    assert world.database_attempts >= 2
    assert world.erasure["status"] == "completed"
    rows = world.erasure["rows"]
    assert rows["public.messages"] >= 4 and rows["public.tool_calls"] >= 2
    assert rows["public.leads"] == 1 and rows["public.tickets"] == 1 and rows["public.customers"] == 1
    # Matched by keyed hash (the lead's and contact's emails are sealed) and by conversation.
    assert rows["public.sandbox_crm_contacts"] == 1 and rows["public.approvals"] == 1
    assert rows["public.knowledge_documents"] == 1 and rows["public.webhook_messages"] == 1


def test_nothing_of_the_customer_is_left_in_postgres_or_redis(platform: Platform, world: World) -> None:
    assert postgres_hits(platform.settings, world.target.values) == {}
    assert redis_hits(platform.settings, world.target.values) == {}
    assert _sealed_rows(platform, world.shop, world.target) == {"leads": 0, "tickets": 0, "contacts": 0, "approvals": 0}
    # The books keep the amount, not the person; the customer row stays as an empty tombstone.
    order = rows(
        platform.settings,
        world.shop.tenant_id,
        "SELECT o.total_cents, o.note, c.name, c.phone, c.email FROM orders o JOIN customers c ON c.id = o.customer_id "
        "WHERE o.customer_id = :c",
        c=world.target.customer_id,
    )
    assert order == [
        {
            "total_cents": 4200,
            "note": "",
            "name": "",
            "phone": None,
            "email": f"erased-{world.target.customer_id}@erased.invalid",
        }
    ]
    for conversation_id in world.target.conversations:
        assert world.shop.api.get(f"/v1/conversations/{conversation_id}").status_code == 404


def test_the_audit_chain_verifies_with_the_customer_s_details_gone(world: World) -> None:
    # Their two sealed events and the two from before sealing, which the erasure re-anchored first.
    assert world.erasure["rows"]["audit.events"] == 4
    erased = _approval_events(world.shop, world.target)
    assert [(e["sealed_state"], e["sealed_details"]) for e in erased] == [("erased", {}), ("erased", {})]
    assert all(e["sealed_sha256"] for e in erased)  # the digest the chain hashes stays
    kept = _approval_events(world.shop, world.neighbour)
    assert [e["sealed_state"] for e in kept] == ["opened", "opened"]
    assert kept[0]["sealed_details"] == {"note": world.neighbour.values[0]}
    for shop in (world.shop, world.other_shop):
        verified = shop.api.get("/v1/audit/verify").json()
        assert verified["ok"] is True and verified["checked"] > 0, verified
        # The erased tenant's old events were re-anchored once, signed; the other tenant's chain was not touched.
        resealed = [(r["ok"], r["resealed"]) for r in verified["reanchored"]]
        assert resealed == ([(True, 4)] if shop is world.shop else []), verified


def test_the_neighbour_and_the_other_tenant_keep_their_data(platform: Platform, world: World) -> None:
    for person in (world.neighbour, world.stranger):
        shop = world.shop if person is world.neighbour else world.other_shop
        assert _sealed_rows(platform, shop, person) == {"leads": 1, "tickets": 1, "contacts": 1, "approvals": 1}
        assert redis_hits(platform.settings, [person.values[3]])
    opened = rows_opened(platform, world.shop, world.neighbour)
    assert opened["lead"]["notes"] == world.neighbour.values[3] and opened["lead"]["email"] == world.neighbour.values[1]
    assert world.neighbour.values[3] in opened["ticket"]["body"]
    orders = rows(
        platform.settings,
        world.shop.tenant_id,
        "SELECT note FROM orders WHERE customer_id = :c",
        c=world.neighbour.customer_id,
    )
    assert orders == [{"note": f"leave with neighbour, {world.neighbour.values[3]}"}]


def test_the_report_is_signed_stored_and_audited(world: World) -> None:
    erasure = world.erasure
    report, signature = erasure["report"], erasure["signature"]
    assert report["customer_id"] == world.target.customer_id and report["tenant_id"] == world.shop.tenant_id
    assert report["tables"]["public.messages"] == {"action": "delete", "rows": erasure["rows"]["public.messages"]}
    assert report["redis_keys_deleted"] >= 2
    assert not set(world.target.values) & set(str(report).split())
    # Anyone with the public key can check it, offline.
    Ed25519PublicKey.from_public_bytes(base64.b64decode(erasure["public_key"])).verify(
        base64.b64decode(signature), canonical(report)
    )
    api = world.shop.api
    assert api.post("/v1/erasures/verify", json={"report": report, "signature": signature}).json() == {
        "valid": True,
        "key_id": erasure["key_id"],
    }
    altered = {**report, "redis_keys_deleted": report["redis_keys_deleted"] - 1}
    assert api.post("/v1/erasures/verify", json={"report": altered, "signature": signature}).json()["valid"] is False
    audit = api.get("/v1/audit", params={"action": "customer.erased"}).json()["items"]
    assert [(e["target"], e["details"]["erasure_id"]) for e in audit] == [(world.target.customer_id, erasure["id"])]
    requested = api.get("/v1/audit", params={"action": "customer.erasure_requested"}).json()["items"]
    assert [e["target"] for e in requested] == [world.target.customer_id]


def test_asking_again_answers_with_the_same_erasure(world: World) -> None:
    again = world.shop.api.post(f"/v1/customers/{world.target.customer_id}/erasure")
    assert again.status_code == 200
    assert again.json()["id"] == world.erasure["id"] and again.json()["status"] == "completed"


def test_another_tenant_sees_neither_the_customer_nor_the_erasure(world: World) -> None:
    other = world.other_shop.api
    refused = other.post(f"/v1/customers/{world.neighbour.customer_id}/erasure")
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "customer_not_found"
    assert other.get(f"/v1/erasures/{world.erasure['id']}").status_code == 404
    foreign = other.post(
        "/v1/erasures/verify", json={"report": world.erasure["report"], "signature": world.erasure["signature"]}
    )
    assert foreign.status_code == 200 and foreign.json() == {"valid": False, "key_id": None}


def test_bad_requests_are_clear_4xx(world: World, platform: Platform) -> None:
    api = world.shop.api
    assert api.post("/v1/customers/not-a-uuid/erasure").status_code == 422
    assert api.post(f"/v1/customers/{uuid.uuid4()}/erasure").status_code == 404
    assert api.get(f"/v1/erasures/{uuid.uuid4()}").status_code == 404
    assert api.post("/v1/erasures/verify", json={"report": {}, "signature": "x"}).status_code == 422
    assert api.post("/v1/erasures/verify", json={"report": {"signed_with": "k"}}).status_code == 422
    with httpx.Client(base_url=platform.base_url, timeout=10) as anonymous:
        assert anonymous.post(f"/v1/customers/{world.neighbour.customer_id}/erasure").status_code == 401
