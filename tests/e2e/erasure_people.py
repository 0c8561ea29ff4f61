"""The people of the erasure tests' world and what they leave behind: a customer created through the API with
conversations that capture a lead, open a ticket and quote their details, the records the API cannot create
directly (an order with a shipment, a knowledge document, a webhook message), an approval put to staff and
denied, and audit events written as before sealing (`tests.e2e.erasure_world` builds the world from these).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from contracts.agents import ApprovalRecordInput, ApprovalStatus
from core.events import EventBus
from core.settings import Settings
from db.database import Database
from tenancy.audit import record_event
from tests.e2e.agent_world import Shop, call, conversation, execute, plan, run_db, turn
from tests.e2e.platform import Platform


@dataclass(frozen=True)
class Person:
    customer_id: str
    conversations: list[str]
    values: list[str]


def new_person(shop: Shop, label: str) -> Person:
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


def attach_records(shop: Shop, person: Person, platform: Platform) -> None:
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
    request_approval(platform.settings, shop.tenant_id, person)


def request_approval(settings: Settings, tenant_id: str, person: Person) -> None:
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


def record_as_before_sealing(settings: Settings, tenant_id: str, person: Person) -> None:
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
