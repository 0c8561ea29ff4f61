"""`/v1/admin/tenants` on the real platform: platform admins only, clear errors, every change audited."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.client import Client

from tests.e2e.platform import Platform
from tests.workflows.tenant_lifecycle.clients import NewTenant, bearer, platform_token, tenant_token

ADMIN_ROUTES = [
    ("POST", "/v1/admin/tenants", {"name": "Nope"}),
    ("GET", "/v1/admin/tenants", None),
    ("GET", "/v1/admin/tenants/{id}", None),
    ("PATCH", "/v1/admin/tenants/{id}", {"plan": "enterprise"}),
    ("POST", "/v1/admin/tenants/{id}/suspend", None),
    ("POST", "/v1/admin/tenants/{id}/resume", None),
    ("POST", "/v1/admin/tenants/{id}/offboard", {"retention_seconds": 0}),
]


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code is not None:
        assert body["code"] == code
    return body


def test_create_read_list_update(admin: httpx.Client, new_tenant: NewTenant) -> None:
    tenant = admin.get(f"/v1/admin/tenants/{new_tenant.id}").json()
    assert tenant["name"] == new_tenant.name
    assert (tenant["plan"], tenant["status"], tenant["data_region"]) == ("pro", "active", "eu-central")
    assert tenant["lifecycle"] is None and tenant["purge_after"] is None

    updated = admin.patch(f"/v1/admin/tenants/{new_tenant.id}", json={"plan": "enterprise", "name": "Renamed Co"})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["plan"], updated.json()["name"]) == ("enterprise", "Renamed Co")

    seen: list[str] = []
    cursor = None
    for _ in range(500):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/v1/admin/tenants", params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert new_tenant.id in seen and len(seen) == len(set(seen))
    active = admin.get("/v1/admin/tenants", params={"status": "active", "limit": 200}).json()["items"]
    assert all(item["status"] == "active" for item in active)


def test_the_first_key_is_the_owners(platform: Platform, new_tenant: NewTenant) -> None:
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key)) as owner:
        assert owner.get("/v1/tenant").json()["id"] == new_tenant.id
        assert owner.post("/v1/conversations", json={}).status_code == 201


def test_suspend_and_resume(admin: httpx.Client, platform: Platform, new_tenant: NewTenant) -> None:
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key)) as owner:
        assert owner.get("/v1/tenant").status_code == 200
        suspended = admin.post(f"/v1/admin/tenants/{new_tenant.id}/suspend", json={"reason": "unpaid invoices"})
        assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
        _error(owner.get("/v1/tenant"), 403, "tenant_suspended")
        # Suspending again changes nothing and is no error.
        assert admin.post(f"/v1/admin/tenants/{new_tenant.id}/suspend").json()["status"] == "suspended"
        resumed = admin.post(f"/v1/admin/tenants/{new_tenant.id}/resume")
        assert resumed.status_code == 200 and resumed.json()["status"] == "active"
        assert owner.get("/v1/tenant").status_code == 200
        actions = [event["action"] for event in owner.get("/v1/audit").json()["items"]]
    assert actions[:2] == ["tenant.resumed", "tenant.suspended"]
    assert {"tenant.created", "api_key.created"} <= set(actions)


def test_admin_actions_name_the_administrator(admin: httpx.Client, owner: httpx.Client, new_tenant: NewTenant) -> None:
    admin.post(f"/v1/admin/tenants/{new_tenant.id}/suspend", json={"reason": "fraud check"})
    admin.post(f"/v1/admin/tenants/{new_tenant.id}/resume")
    events = owner.get("/v1/audit", params={"action": "tenant.suspended"}).json()["items"]
    assert len(events) == 1
    assert events[0]["actor"] == "platform:ops-admin"
    assert events[0]["target"] == new_tenant.id
    assert events[0]["details"] == {"from": "active", "to": "suspended", "reason": "fraud check"}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "Ok", "plan": "platinum"},
        {"name": "Ok", "data_region": "mars-north"},
        {"name": "Ok", "unexpected": 1},
        {"name": "bell\x07"},
    ],
)
def test_bad_creations_are_422(admin: httpx.Client, body: dict) -> None:
    _error(admin.post("/v1/admin/tenants", json=body), 422)


def test_unknown_ids_and_bad_input(admin: httpx.Client, new_tenant: NewTenant) -> None:
    unknown = uuid.uuid4()
    for method, path, body in ADMIN_ROUTES[2:]:
        _error(admin.request(method, path.format(id=unknown), json=body), 404, "tenant_not_found")
    _error(admin.get("/v1/admin/tenants/not-a-uuid"), 422)
    _error(admin.get("/v1/admin/tenants", params={"cursor": "garbage"}), 400, "invalid_cursor")
    _error(admin.get("/v1/admin/tenants", params={"status": "deleted"}), 422)
    _error(admin.patch(f"/v1/admin/tenants/{new_tenant.id}", json={"data_region": "us-east"}), 422)
    _error(admin.post(f"/v1/admin/tenants/{new_tenant.id}/offboard", json={"retention_seconds": -1}), 422)
    _error(admin.post(f"/v1/admin/tenants/{new_tenant.id}/offboard", json={"retention_seconds": 10**9}), 422)


def test_tenant_credentials_are_refused(platform: Platform, new_tenant: NewTenant) -> None:
    owner_jwt = tenant_token(platform, new_tenant.id, "owner")
    operator = platform_token(platform, role="platform_operator")
    for token in (new_tenant.api_key, owner_jwt, operator):
        with httpx.Client(base_url=platform.base_url, headers=bearer(token)) as client:
            for method, path, body in ADMIN_ROUTES:
                _error(client.request(method, path.format(id=new_tenant.id), json=body), 403, "forbidden")


def test_no_credentials_are_refused(platform: Platform, new_tenant: NewTenant) -> None:
    with httpx.Client(base_url=platform.base_url) as anonymous:
        for method, path, body in ADMIN_ROUTES:
            response = anonymous.request(method, path.format(id=new_tenant.id), json=body)
            _error(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_offboarding_cannot_be_undone(admin: httpx.Client, new_tenant: NewTenant, temporal: Client) -> None:
    accepted = admin.post(f"/v1/admin/tenants/{new_tenant.id}/offboard", json={"retention_seconds": 3600})
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["workflow_id"] == f"platform:lifecycle:{new_tenant.id}"
    assert body["tenant"]["status"] == "offboarding" and body["tenant"]["purge_after"]
    # Asking again is answered with the same run, not a second one.
    again = admin.post(f"/v1/admin/tenants/{new_tenant.id}/offboard", json={"retention_seconds": 60})
    assert again.status_code == 202 and again.json()["tenant"]["purge_after"] == body["tenant"]["purge_after"]
    for action in ("resume", "suspend"):
        details = _error(admin.post(f"/v1/admin/tenants/{new_tenant.id}/{action}"), 409, "invalid_transition")[
            "details"
        ]
        assert details["status"] == "offboarding"
    await temporal.get_workflow_handle(body["workflow_id"]).terminate(reason="test done")


def test_another_tenant_learns_nothing_about_this_one(api_b: httpx.Client, new_tenant: NewTenant) -> None:
    _error(api_b.get(f"/v1/admin/tenants/{new_tenant.id}"), 403, "forbidden")
    assert api_b.get("/v1/tenant").json()["id"] != new_tenant.id
    assert new_tenant.id not in api_b.get("/v1/audit", params={"limit": 200}).text


def test_a_demo_tenant_starts_with_its_own_world(
    admin: httpx.Client, platform: Platform, new_tenant: NewTenant
) -> None:
    created = admin.post("/v1/admin/tenants", json={"name": f"Demo {uuid.uuid4().hex[:8]}", "demo": True})
    assert created.status_code == 201, created.text
    body = created.json()
    demo = body["demo"]
    assert set(demo["customers"]) == {"ada", "bob"} and len(demo["orders"]) == 4 and "SKU-MUG" in demo["skus"]
    with httpx.Client(base_url=platform.base_url, headers=bearer(body["api_key"])) as owner:
        listed = owner.get("/v1/customers", params={"limit": 200}).json()["items"]
        assert {c["id"] for c in listed} == set(demo["customers"].values())
        assert owner.get(f"/v1/customers/{demo['customers']['ada']}").status_code == 200
    # Another tenant sees none of it; a tenant created without `demo` gets no world and no ids.
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key)) as other:
        assert other.get("/v1/customers", params={"limit": 200}).json()["items"] == []
        _error(other.get(f"/v1/customers/{demo['customers']['ada']}"), 404)
    plain = admin.post("/v1/admin/tenants", json={"name": f"Plain {uuid.uuid4().hex[:8]}"}).json()
    assert plain["demo"] is None
    _error(admin.post("/v1/admin/tenants", json={"name": "Bad", "demo": "yes please"}), 422)
