"""Erasure of one end customer through the running platform: real conversations (tool calls, a ticket, a lead
and its CRM contact, an approval; all sealed at rest, found by keyed hash and conversation),
an `ErasureWorkflow` whose worker is SIGKILLed in the middle of its database step, and then a scan of every
row of Postgres and every key of Redis for the customer's values. A neighbour of the same tenant and another
tenant's customer keep theirs. The signed report verifies, and altered or foreign reports do not.
"""

from __future__ import annotations

import base64
import uuid

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from policies.erasure.signing import canonical
from tests.e2e import erasure_world
from tests.e2e.agent_world import rows
from tests.e2e.erasure_world import World, approval_events, rows_opened, sealed_rows
from tests.e2e.platform import Platform
from tests.e2e.traces import postgres_hits, redis_hits

# The module-scoped world every test here looks at (built once: two shops, three people, one erasure).
world = erasure_world.world


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
    assert sealed_rows(platform, world.shop, world.target) == {"leads": 0, "tickets": 0, "contacts": 0, "approvals": 0}
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
    erased = approval_events(world.shop, world.target)
    assert [(e["sealed_state"], e["sealed_details"]) for e in erased] == [("erased", {}), ("erased", {})]
    assert all(e["sealed_sha256"] for e in erased)  # the digest the chain hashes stays
    kept = approval_events(world.shop, world.neighbour)
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
        assert sealed_rows(platform, shop, person) == {"leads": 1, "tickets": 1, "contacts": 1, "approvals": 1}
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
