"""`GET /v1/conversations` on the running platform: newest first, every filter, paging, and tenants apart."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.api.helpers import error, every_item, fresh_tenant, page
from tests.e2e.platform import Platform


def _start(owner: httpx.Client, **body: object) -> dict[str, object]:
    created = owner.post("/v1/conversations", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _customer(owner: httpx.Client, email: str) -> str:
    created = owner.post("/v1/customers", json={"email": email, "name": "Someone"})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_lists_newest_first_with_every_filter(platform: Platform) -> None:
    with fresh_tenant(platform, "Conversations") as (_tenant_id, owner):
        ada = _customer(owner, "ada@example.com")
        first = _start(owner, agent="support", channel="web", customer_id=ada)
        time.sleep(0.01)
        middle = datetime.now(UTC)
        second = _start(owner, agent="orders", channel="web")
        third = _start(owner, agent="support", channel="whatsapp", metadata={"ref": "x-1"})
        listed = every_item(owner, "/v1/conversations")
        assert [c["id"] for c in listed] == [third["id"], second["id"], first["id"]]
        assert listed[0]["metadata"] == {"ref": "x-1"} and listed[0]["status"] == "open"
        assert listed[2]["customer_id"] == ada and listed[2]["agent"] == "support"

        def ids(**params: object) -> list[object]:
            return [c["id"] for c in every_item(owner, "/v1/conversations", **params)]

        assert ids(agent="support") == [third["id"], first["id"]]
        assert ids(channel="web") == [second["id"], first["id"]]
        assert ids(agent="support", channel="web") == [first["id"]]
        assert ids(customer_id=ada) == [first["id"]]
        assert ids(customer_id=ada.upper()) == [first["id"]]
        assert ids(status="open") == [third["id"], second["id"], first["id"]]
        assert ids(status="closed") == []
        assert ids(created_after=middle.isoformat()) == [third["id"], second["id"]]
        assert ids(created_before=middle.isoformat()) == [first["id"]]
        one_by_one = every_item(owner, "/v1/conversations", limit=1, agent="support")
        assert [c["id"] for c in one_by_one] == [third["id"], first["id"]]


def test_another_tenants_conversations_never_appear(platform: Platform, api: httpx.Client) -> None:
    mine = _start(api)
    with fresh_tenant(platform, "Outsider") as (_tenant_id, outsider):
        assert page(outsider.get("/v1/conversations"))["items"] == []
        theirs = _start(outsider)
        assert [c["id"] for c in every_item(outsider, "/v1/conversations")] == [theirs["id"]]
        ada = _customer(api, f"{uuid.uuid4().hex[:8]}@example.com")
        _start(api, customer_id=ada)
        # Naming the other tenant's customer finds nothing, and tells nothing about it.
        assert page(outsider.get("/v1/conversations", params={"customer_id": ada}))["items"] == []
    listed = {c["id"] for c in every_item(api, "/v1/conversations", created_after=_minutes_ago(5))}
    assert mine["id"] in listed and theirs["id"] not in listed


def _minutes_ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def test_bad_filters_are_refused_cleanly(api: httpx.Client) -> None:
    for params in (
        {"customer_id": "not-a-uuid"},
        {"agent": "Not A Name"},
        {"channel": "x" * 65},
        {"status": "open; DROP TABLE conversations"},
        {"created_after": "yesterday"},
        {"created_after": "2026-01-01T00:00:00"},  # no offset: which instant is it?
        {"created_after": "0001-01-01T00:00:00+14:00"},
        {"created_before": "9999-12-31T23:59:59-14:00"},
    ):
        error(api.get("/v1/conversations", params=params), 422, "invalid_request")
    window = {"created_after": _minutes_ago(1), "created_before": _minutes_ago(2)}
    error(api.get("/v1/conversations", params=window), 422, "invalid_range")
    unfiltered = page(api.get("/v1/conversations", params={"limit": 1}))
    assert unfiltered["next_cursor"] is not None
    # A cursor is valid for the filters it was made with only.
    moved = {"cursor": unfiltered["next_cursor"], "agent": "support"}
    error(api.get("/v1/conversations", params=moved), 400, "invalid_cursor")
