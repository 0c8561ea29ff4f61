"""`/v1/customers` as JSON on the running platform: upsert one or a batch by email, read, list, tenants apart."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.helpers import client, error, every_item, fresh_tenant, page
from tests.e2e.platform import Platform


def _emails(owner: httpx.Client) -> list[str]:
    return [c["email"] for c in every_item(owner, "/v1/customers")]


def test_one_customer_is_created_then_updated_by_email(platform: Platform) -> None:
    with fresh_tenant(platform, "Customers") as (_tenant_id, owner):
        created = owner.post("/v1/customers", json={"email": "Ada@Example.com", "name": "Ada", "phone": "+44 1"})
        assert created.status_code == 201, created.text
        ada = created.json()
        assert (ada["email"], ada["name"], ada["phone"]) == ("ada@example.com", "Ada", "+44 1")
        renamed = owner.post("/v1/customers", json={"email": "ada@example.com", "name": "Ada Lovelace"})
        assert renamed.status_code == 200, renamed.text
        # Same customer, new name, and the phone it did not mention kept.
        assert {**renamed.json(), "name": "Ada"} == ada
        cleared = owner.post("/v1/customers", json={"email": "ada@example.com", "name": "Ada L.", "phone": None})
        assert cleared.status_code == 200 and cleared.json()["phone"] is None
        assert owner.get(f"/v1/customers/{ada['id']}").json()["name"] == "Ada L."
        assert page(owner.get("/v1/customers", params={"email": "ADA@example.com"}))["items"][0]["id"] == ada["id"]


def test_a_batch_reports_what_it_created_and_updated(platform: Platform) -> None:
    with fresh_tenant(platform, "Batch") as (_tenant_id, owner):
        assert owner.post("/v1/customers", json={"email": "bob@example.com", "name": "Bob"}).status_code == 201
        batch = [{"email": f"c{i}@example.com", "name": f"C{i}"} for i in range(3)]
        batch.append({"email": "bob@example.com", "name": "Robert"})
        answer = owner.post("/v1/customers", json=batch)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["created"], body["updated"]) == (3, 1)
        assert [c["email"] for c in body["items"]] == [c["email"] for c in batch]
        assert sorted(_emails(owner)) == sorted({c["email"] for c in batch})
        # Newest first; customers made in one request tie on the time and are then ordered by id.
        listed = every_item(owner, "/v1/customers", limit=2)
        assert listed[-1]["email"] == "bob@example.com" and len(listed) == 4


def test_refused_bodies_store_nothing(platform: Platform) -> None:
    with fresh_tenant(platform, "Refusals") as (_tenant_id, owner):
        good = {"email": "ok@example.com", "name": "Ok"}
        for body in (
            {},
            [],
            {"email": "not-an-email", "name": "X"},
            {"email": "a@example.com", "name": ""},
            {"email": "a@example.com", "name": "nul \x00 here"},
            {"email": "a@example.com", "name": "X", "phone": "1" * 41},
            {"email": "a@example.com", "name": "X", "id": str(uuid.uuid4())},
            {"email": "a@example.com", "name": "X", "tenant_id": "someone-else"},
            [good, {"email": "bad", "name": "X"}],
            [good] * 1001,
            "ok@example.com",
        ):
            error(owner.post("/v1/customers", json=body), 422, "invalid_request")
        error(owner.post("/v1/customers", json=[good, {**good, "name": "Twice"}]), 422, "duplicate_email")
        error(owner.post("/v1/customers", content=b'{"email": ', headers={"Content-Type": "application/json"}), 400)
        error(owner.post("/v1/customers", content=b"email,name\n", headers={"Content-Type": "text/csv"}), 415)
        assert _emails(owner) == []
        error(owner.get("/v1/customers/not-a-uuid"), 422, "invalid_request")
        for email in ("nul\x00@example.com", "not-an-email", "x" * 300):
            error(owner.get("/v1/customers", params={"email": email}), 422, "invalid_request")
        error(owner.get(f"/v1/customers/{uuid.uuid4()}"), 404, "customer_not_found")


def test_another_tenants_customers_are_invisible_and_untouchable(platform: Platform, api: httpx.Client) -> None:
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    theirs = api.post("/v1/customers", json={"email": email, "name": "Tenant A's"}).json()
    with fresh_tenant(platform, "Other") as (_tenant_id, other):
        error(other.get(f"/v1/customers/{theirs['id']}"), 404, "customer_not_found")
        assert page(other.get("/v1/customers", params={"email": email}))["items"] == []
        # The same email is another customer here: the key is per tenant, and A's row is not touched.
        mine = other.post("/v1/customers", json={"email": email, "name": "Mine"})
        assert mine.status_code == 201 and mine.json()["id"] != theirs["id"]
        assert [c["id"] for c in every_item(other, "/v1/customers")] == [mine.json()["id"]]
    assert api.get(f"/v1/customers/{theirs['id']}").json()["name"] == "Tenant A's"


def test_who_may_read_and_load_customers(platform: Platform, api: httpx.Client) -> None:
    def _key(role: str, **extra: Any) -> str:
        created = api.post("/v1/api-keys", json={"name": role, "role": role, **extra})
        assert created.status_code == 201, created.text
        return str(created.json()["api_key"])

    with client(platform, _key("viewer")) as viewer:
        page(viewer.get("/v1/customers"))
        error(viewer.post("/v1/customers", json={"email": "v@example.com", "name": "V"}), 403, "forbidden")
    with client(platform, _key("developer", scopes=["tenant:read"])) as narrow:
        error(narrow.get("/v1/customers"), 403, "forbidden")
    with client(platform) as anonymous:
        error(anonymous.get("/v1/customers"), 401, "unauthenticated")
