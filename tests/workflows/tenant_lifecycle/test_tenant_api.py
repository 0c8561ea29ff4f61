"""`/v1/tenant`: a tenant reads and renames itself and manages its members, within its roles' limits."""

from __future__ import annotations

import uuid

import httpx
import pytest

from db.database import Database
from tenancy.tenants import ensure_user, set_member_role
from tests.e2e.platform import Platform
from tests.workflows.tenant_lifecycle.clients import NewTenant, bearer, tenant_token


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"code", "message", "details"}
    if code is not None:
        assert body["code"] == code
    return body


async def _member(owner_database: Database, tenant_id: str, role: str) -> str:
    async with owner_database.tenant_session(tenant_id) as session:
        user_id = await ensure_user(session, subject=f"sub-{uuid.uuid4().hex}")
        await set_member_role(session, tenant_id=tenant_id, user_id=user_id, role=role, actor="tests")
    return user_id


def _as(platform: Platform, tenant_id: str, role: str) -> httpx.Client:
    return httpx.Client(base_url=platform.base_url, headers=bearer(tenant_token(platform, tenant_id, role)))


def test_read_and_rename(owner: httpx.Client, new_tenant: NewTenant) -> None:
    tenant = owner.get("/v1/tenant").json()
    assert (tenant["id"], tenant["status"], tenant["data_region"]) == (new_tenant.id, "active", "eu-central")
    renamed = owner.patch("/v1/tenant", json={"name": "  Shiny New Name  "})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Shiny New Name"
    event = owner.get("/v1/audit", params={"action": "tenant.updated"}).json()["items"][0]
    assert event["details"] == {"name": {"from": new_tenant.name, "to": "Shiny New Name"}}
    assert event["actor"].startswith("apikey:")


@pytest.mark.parametrize("body", [{"name": ""}, {"name": "x" * 201}, {"name": "tab\there"}, {"slug": "mine"}])
def test_bad_updates_are_422(owner: httpx.Client, body: dict) -> None:
    _error(owner.patch("/v1/tenant", json=body), 422)


def test_plan_changes_are_the_platforms(owner: httpx.Client) -> None:
    _error(owner.patch("/v1/tenant", json={"plan": "enterprise"}), 403, "plan_change_forbidden")
    assert owner.get("/v1/tenant").json()["plan"] == "pro"


def test_roles_decide_who_reads_and_writes(platform: Platform, new_tenant: NewTenant) -> None:
    with _as(platform, new_tenant.id, "viewer") as viewer, _as(platform, new_tenant.id, "admin") as admin:
        assert viewer.get("/v1/tenant").status_code == 200
        _error(viewer.patch("/v1/tenant", json={"name": "Viewer Was Here"}), 403, "forbidden")
        _error(viewer.get("/v1/tenant/members"), 403, "forbidden")
        _error(viewer.get("/v1/audit"), 403, "forbidden")
        # An admin manages members and reads the audit log, but changing the tenant stays with owners.
        _error(admin.patch("/v1/tenant", json={"name": "Admin Was Here"}), 403, "forbidden")
        assert admin.get("/v1/tenant/members").status_code == 200
        assert admin.get("/v1/audit").status_code == 200


async def test_member_roles(platform: Platform, new_tenant: NewTenant, owner_database: Database) -> None:
    first_owner = await _member(owner_database, new_tenant.id, "owner")
    developer = await _member(owner_database, new_tenant.id, "developer")
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key)) as owner:
        members = {m["user_id"]: m["role"] for m in owner.get("/v1/tenant/members").json()["items"]}
        assert members == {first_owner: "owner", developer: "developer"}

        promoted = owner.put(f"/v1/tenant/members/{developer}", json={"role": "admin"})
        assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
        _error(owner.put(f"/v1/tenant/members/{developer}", json={"role": "janitor"}), 422)
        _error(owner.put(f"/v1/tenant/members/{developer}", json={"role": "admin", "x": 1}), 422)
        # The last owner stays: neither demoted nor removed.
        _error(owner.put(f"/v1/tenant/members/{first_owner}", json={"role": "viewer"}), 409, "last_owner")
        _error(owner.delete(f"/v1/tenant/members/{first_owner}"), 409, "last_owner")

        assert owner.delete(f"/v1/tenant/members/{developer}").status_code == 204
        _error(owner.delete(f"/v1/tenant/members/{developer}"), 404, "member_not_found")
        _error(owner.put(f"/v1/tenant/members/{uuid.uuid4()}", json={"role": "viewer"}), 404, "member_not_found")
        actions = [e["action"] for e in owner.get("/v1/audit", params={"limit": 3}).json()["items"]]
    assert actions == ["member.removed", "member.role_changed", "member.added"]


async def test_admins_neither_make_nor_unmake_owners(
    platform: Platform, new_tenant: NewTenant, owner_database: Database
) -> None:
    owner_id = await _member(owner_database, new_tenant.id, "owner")
    viewer_id = await _member(owner_database, new_tenant.id, "viewer")
    with _as(platform, new_tenant.id, "admin") as admin:
        _error(admin.put(f"/v1/tenant/members/{viewer_id}", json={"role": "owner"}), 403, "forbidden")
        _error(admin.put(f"/v1/tenant/members/{owner_id}", json={"role": "viewer"}), 403, "forbidden")
        _error(admin.delete(f"/v1/tenant/members/{owner_id}"), 403, "forbidden")
        assert admin.put(f"/v1/tenant/members/{viewer_id}", json={"role": "developer"}).status_code == 200


async def test_another_tenants_members_are_not_found(
    platform: Platform, new_tenant: NewTenant, owner_database: Database, tenant_b: tuple[str, str]
) -> None:
    theirs = await _member(owner_database, tenant_b[0], "viewer")
    with httpx.Client(base_url=platform.base_url, headers=bearer(new_tenant.api_key)) as owner:
        assert theirs not in {m["user_id"] for m in owner.get("/v1/tenant/members").json()["items"]}
        _error(owner.put(f"/v1/tenant/members/{theirs}", json={"role": "owner"}), 404, "member_not_found")
        _error(owner.delete(f"/v1/tenant/members/{theirs}"), 404, "member_not_found")
    with httpx.Client(base_url=platform.base_url, headers=bearer(tenant_b[1])) as other:
        members = {m["user_id"]: m["role"] for m in other.get("/v1/tenant/members").json()["items"]}
        assert members[theirs] == "viewer"
        assert other.get("/v1/tenant").json()["id"] == tenant_b[0]
