"""Human approval through the gateway: a refund above 100.00 waits for a person, who approves or denies it.

Each module run gets a tenant of its own (orders are placed and refunded here), seeded with the demo shop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.agent_world import (
    Shop,
    answer,
    call,
    conversation,
    finished,
    fresh_shop,
    of,
    plan,
    rows,
    send,
    turn,
)
from tests.e2e.platform import Platform
from tests.e2e.sse import events_of, read_frames

REFUND_CENTS = 10_500


@dataclass(frozen=True)
class People:
    shop: Shop
    viewer: httpx.Client

    @property
    def owner(self) -> httpx.Client:
        return self.shop.api


@pytest.fixture(scope="module")
def people(platform: Platform) -> Iterator[People]:
    with fresh_shop(platform, "Approvals") as shop:
        created = shop.api.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"})
        assert created.status_code == 201, created.text
        with shop.client(created.json()["api_key"]) as viewer:
            yield People(shop=shop, viewer=viewer)


def _place_big_order(platform: Platform, people: People, cid: str) -> str:
    """Ada orders two hoodies (110.00) through the orders agent; the new order's id."""
    mid, frames = turn(people.owner, cid, plan(call("orders.place", items=[{"sku": "SKU-HOODIE", "quantity": 2}])))
    assert answer(frames, mid) == "done: orders.place=ok"
    placed = rows(
        platform.settings,
        people.shop.tenant_id,
        "SELECT id, status, total_cents FROM orders WHERE customer_id = :c AND total_cents = 11000"
        " ORDER BY created_at DESC LIMIT 1",
        c=people.shop.demo.ada_id,
    )
    assert placed and placed[0]["status"] == "placed"
    return str(placed[0]["id"])


def _ask_for_refund(people: People, cid: str, order_id: str) -> tuple[str, dict]:
    """Ask for the refund; returns the message id once its approval is requested, and the request event."""
    content = plan(call("orders.refund", order_id=order_id, amount_cents=REFUND_CENTS, reason="arrived damaged"))
    mid = send(people.owner, cid, content)
    frames = events_of(
        read_frames(
            people.owner,
            cid,
            lambda fs: any(f.event == "approval.requested" and f.data and f.data["message_id"] == mid for f in fs),
            timeout=60,
        )
    )
    requested = of(frames, "approval.requested", message_id=mid)
    assert len(requested) == 1
    return mid, requested[0]


def _refunds(platform: Platform, people: People, order_id: str) -> list[dict]:
    return rows(
        platform.settings,
        people.shop.tenant_id,
        "SELECT amount_cents FROM sandbox_payments WHERE order_id = :o AND kind = 'refund'",
        o=order_id,
    )


def test_an_approved_refund_runs_the_refund_saga(platform: Platform, people: People) -> None:
    cid = conversation(people.owner, "orders", people.shop.demo.ada_id)
    order_id = _place_big_order(platform, people, cid)
    mid, requested = _ask_for_refund(people, cid, order_id)
    approval_id = requested["approval_id"]
    assert requested["tool"] == "orders.refund" and requested["arguments"]["amount_cents"] == REFUND_CENTS

    # The turn waits: visible in the conversation's status and the approvals list, nothing refunded yet.
    detail = people.owner.get(f"/v1/conversations/{cid}").json()
    assert detail["status"] == "awaiting_approval"
    listed = people.viewer.get(f"/v1/conversations/{cid}/approvals").json()["items"]
    assert [(a["id"], a["status"], a["tool"]) for a in listed] == [(approval_id, "pending", "orders.refund")]
    assert listed[0]["expires_at"] is not None
    assert _refunds(platform, people, order_id) == []

    decided = people.owner.post(
        f"/v1/conversations/{cid}/approvals/{approval_id}", json={"decision": "approve", "note": "photo checked"}
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["status"] == "approved" and body["note"] == "photo checked"
    assert body["decided_by"].startswith("apikey:") and body["decided_at"] is not None

    frames = events_of(read_frames(people.owner, cid, finished(mid), timeout=90))
    assert answer(frames, mid) == "done: orders.refund=ok"
    assert of(frames, "approval.resolved", approval_id=approval_id)[0]["status"] == "approved"
    assert [c["tool"] for c in of(frames, "tool.completed", message_id=mid) if c["call_id"] == "call_0"] == [
        "orders.refund"
    ]
    assert _refunds(platform, people, order_id) == [{"amount_cents": REFUND_CENTS}]
    order = rows(
        platform.settings, people.shop.tenant_id, "SELECT refunded_cents FROM orders WHERE id = :o", o=order_id
    )
    assert order == [{"refunded_cents": REFUND_CENTS}]

    # A second decision is refused, by the API before the workflow is even asked.
    again = people.owner.post(f"/v1/conversations/{cid}/approvals/{approval_id}", json={"decision": "deny"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "approval_already_decided"


def test_a_denied_refund_refunds_nothing_and_the_model_is_told(
    platform: Platform, people: People, api_b: httpx.Client
) -> None:
    cid = conversation(people.owner, "orders", people.shop.demo.ada_id)
    order_id = _place_big_order(platform, people, cid)
    mid, requested = _ask_for_refund(people, cid, order_id)
    approval_id = requested["approval_id"]
    url = f"/v1/conversations/{cid}/approvals/{approval_id}"

    # A viewer may read but not decide; another tenant does not even see the conversation.
    refused = people.viewer.post(url, json={"decision": "approve"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert api_b.post(url, json={"decision": "approve"}).status_code == 404
    assert api_b.get(f"/v1/conversations/{cid}/approvals").status_code == 404
    # Unknown approval ids and malformed decisions are refused before anything happens.
    assert (
        people.owner.post(f"/v1/conversations/{cid}/approvals/{uuid.uuid4()}", json={"decision": "approve"}).status_code
        == 404
    )
    assert people.owner.post(url, json={"decision": "maybe"}).status_code == 422
    assert people.owner.post(url, json={"decision": "deny", "note": "x" * 1001}).status_code == 422
    assert people.owner.get(f"/v1/conversations/{cid}/approvals?status=pending").json()["items"][0]["id"] == approval_id

    decided = people.owner.post(url, json={"decision": "deny", "note": "not eligible"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "denied"

    frames = events_of(read_frames(people.owner, cid, finished(mid), timeout=90))
    assert answer(frames, mid) == "done: orders.refund=denied"
    failed = of(frames, "tool.failed", message_id=mid)
    assert [(f["tool"], f["error_type"]) for f in failed] == [("orders.refund", "NotApproved")]
    assert "not approved by a human" in failed[0]["message"]
    assert _refunds(platform, people, order_id) == []
    order = rows(
        platform.settings, people.shop.tenant_id, "SELECT status, refunded_cents FROM orders WHERE id = :o", o=order_id
    )
    assert order == [{"status": "placed", "refunded_cents": 0}]
    # Nothing was started for the refund: no saga step ran.
    steps = rows(
        platform.settings,
        people.shop.tenant_id,
        "SELECT call_id, status FROM tool_calls WHERE message_id = :m ORDER BY call_id",
        m=mid,
    )
    assert steps == [{"call_id": "call_0", "status": "denied"}]
    audit = people.owner.get("/v1/audit", params={"action": "approval.denied"}).json()["items"]
    assert [e["target"] for e in audit] == [approval_id]
