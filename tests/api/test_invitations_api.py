"""Invitations on the running platform: issue, list, revoke, accept as a person, and every refusal's code."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from db.database import Database, run_sql
from tenancy.jwt import dev_secret, issue_token
from tests.api.helpers import client, error, every_item, fresh_tenant, page
from tests.e2e.platform import Platform


def identity(
    platform: Platform,
    subject: str,
    *,
    email: str | None = None,
    verified: bool = True,
    tenant_id: str | None = None,
    name: str | None = None,
) -> str:
    """A person's token as an identity provider would issue it: a subject, maybe an address, no roles."""
    extra: dict[str, Any] = {"email": email, "email_verified": verified} if email else {}
    if name:
        extra["name"] = name
    return issue_token(dev_secret(platform.data_dir), subject=subject, tenant_id=tenant_id, extra=extra)


def accept(platform: Platform, token: str, identity_token: str) -> httpx.Response:
    with client(platform, identity_token) as person:
        return person.post("/v1/invitations/accept", json={"token": token})


def owner_sql(platform: Platform, sql: str, params: dict[str, Any]) -> list[Any]:
    async def run() -> list[Any]:
        db = Database(platform.settings.database_url or "", pool_size=1)
        try:
            async with db.admin_session() as session:
                result = await run_sql(session, sql, params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await db.close()

    return asyncio.run(run())


def test_an_invited_person_joins_with_the_role_and_only_once(platform: Platform) -> None:
    subject = f"ann-{uuid.uuid4().hex[:8]}"
    with fresh_tenant(platform, "Invites") as (tenant_id, owner):
        made = owner.post("/v1/tenant/invitations", json={"email": "Ann@EXAMPLE.com", "role": "developer"})
        assert made.status_code == 201, made.text
        created = made.json()
        token = created["token"]
        assert token.startswith(f"inv_{tenant_id}.") and created["accept_url"].endswith(f"?token={token}")
        assert (created["email"], created["role"], created["status"]) == ("Ann@example.com", "developer", "pending")
        # The token is shown once: listings never carry it, and the database holds only its digest.
        listed = every_item(owner, "/v1/tenant/invitations", status="pending")
        assert [i["id"] for i in listed] == [created["id"]] and "token" not in listed[0]
        stored = owner_sql(platform, "SELECT token_sha256 FROM invitations WHERE id = :id", {"id": created["id"]})
        assert stored and token not in str(stored)
        error(
            owner.post("/v1/tenant/invitations", json={"email": "ann@example.com", "role": "viewer"}),
            409,
            "invitation_pending",
        )

        person = identity(platform, subject, email="ANN@example.com", tenant_id=tenant_id, name="Ann Example")
        # Before accepting, the person's token names the tenant but holds no role in it.
        with client(platform, person) as before:
            error(before.get("/v1/conversations"), 403, "forbidden")
        joined = accept(platform, token, person)
        assert joined.status_code == 200, joined.text
        body = joined.json()
        assert (body["tenant_id"], body["role"], body["joined"]) == (tenant_id, "developer", True)
        assert body["invitation"]["status"] == "accepted" and body["invitation"]["accepted_by"] == body["user_id"]
        again = accept(platform, token, person)
        assert (
            again.status_code == 200 and again.json()["joined"] is False and again.json()["user_id"] == body["user_id"]
        )
        error(accept(platform, token, identity(platform, f"other-{uuid.uuid4().hex[:8]}")), 409, "invitation_used")

        # The same token now acts with the membership's role, at once (the cached role-less principal is gone).
        with client(platform, person) as member:
            assert member.get("/v1/conversations").status_code == 200
            error(member.post("/v1/api-keys", json={"name": "nope"}), 403, "forbidden")
        members = {m["user_id"]: m for m in every_item(owner, "/v1/tenant/members")}
        assert members[body["user_id"]]["role"] == "developer"
        assert members[body["user_id"]]["email"] == "ANN@example.com"
        assert members[body["user_id"]]["display_name"] == "Ann Example"
        error(
            owner.post("/v1/tenant/invitations", json={"email": "ann@EXAMPLE.com", "role": "viewer"}),
            409,
            "already_member",
        )
        events = page(owner.get("/v1/audit", params={"limit": 4}))["items"]
        assert owner.delete(f"/v1/tenant/members/{body['user_id']}").status_code == 204
        # A removed member does not come back through the link they once used.
        error(accept(platform, token, person), 409, "invitation_used")
        actions = [e["action"] for e in events]
        assert actions[:2] == ["invitation.accepted", "member.added"] and "invitation.created" in actions
        # The invited address is personal data: never in an event's clear details.
        assert all("ann@" not in str(e.get("details", {})).lower() for e in events)


def test_refusals_have_their_own_codes(platform: Platform) -> None:
    run = uuid.uuid4().hex[:8]
    with fresh_tenant(platform, "Refusals") as (tenant_id, owner):
        invite = "/v1/tenant/invitations"
        error(owner.post(invite, json={"email": "not an address", "role": "viewer"}), 422, "invalid_email")
        error(owner.post(invite, json={"email": "a@example.com", "role": "janitor"}), 422)
        error(owner.post(invite, json={"email": "a@example.com", "role": "viewer", "x": 1}), 422)
        error(owner.post(invite, json={}), 422)
        error(owner.get(invite, params={"status": "lost"}), 422)
        error(owner.delete(f"{invite}/not-a-uuid"), 422)
        error(owner.delete(f"{invite}/{uuid.uuid4()}"), 404, "invitation_not_found")

        admin_key = owner.post("/v1/api-keys", json={"name": "admin", "role": "admin"}).json()
        viewer_key = owner.post("/v1/api-keys", json={"name": "viewer", "role": "viewer"}).json()
        with client(platform, viewer_key["api_key"]) as viewer:
            error(viewer.get(invite), 403, "forbidden")
            error(viewer.post(invite, json={"email": "v@example.com", "role": "viewer"}), 403, "forbidden")
        with client(platform, admin_key["api_key"]) as admin:
            error(admin.post(invite, json={"email": "o@example.com", "role": "owner"}), 403, "forbidden")
            by_admin = admin.post(invite, json={"email": "dev@example.com", "role": "developer"}).json()
        owners = owner.post(invite, json={"email": "own@example.com", "role": "owner"}).json()
        with client(platform, admin_key["api_key"]) as admin:
            # Nobody revokes an invitation to more than they hold.
            error(admin.delete(f"{invite}/{owners['id']}"), 403, "forbidden")

        # The inviting key revoked: its invitation can no longer be accepted.
        assert owner.delete(f"/v1/api-keys/{admin_key['id']}").status_code == 204
        error(accept(platform, by_admin["token"], identity(platform, f"dev-person-{run}")), 403, "inviter_cannot_grant")

        revoked = owner.post(invite, json={"email": "r@example.com", "role": "viewer"}).json()
        gone = owner.delete(f"{invite}/{revoked['id']}")
        assert gone.status_code == 200 and gone.json()["status"] == "revoked"
        error(owner.delete(f"{invite}/{revoked['id']}"), 409, "invitation_not_pending")
        error(accept(platform, revoked["token"], identity(platform, f"r-person-{run}")), 410, "invitation_revoked")

        expired = owner.post(invite, json={"email": "e@example.com", "role": "viewer"}).json()
        owner_sql(
            platform,
            "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = :id",
            {"id": expired["id"]},
        )
        assert [i["id"] for i in every_item(owner, invite, status="expired")] == [expired["id"]]
        error(accept(platform, expired["token"], identity(platform, f"e-person-{run}")), 410, "invitation_expired")

        mine = owner.post(invite, json={"email": "m@example.com", "role": "viewer"}).json()
        # A verified address must be the invited one; an unverified one proves nothing and is not compared.
        error(
            accept(platform, mine["token"], identity(platform, f"m1-{run}", email="x@example.com")),
            403,
            "email_mismatch",
        )
        unverified = identity(platform, f"m1-{run}", email="x@example.com", verified=False)
        assert accept(platform, mine["token"], unverified).status_code == 200
        second = owner.post(invite, json={"email": "m2@example.com", "role": "developer"}).json()
        error(accept(platform, second["token"], unverified), 409, "already_member")

        # A key is not a person; no credential is a 401; a token nobody issued is not found.
        error(accept(platform, second["token"], viewer_key["api_key"]), 403, "identity_required")
        with client(platform) as anonymous:
            error(anonymous.post("/v1/invitations/accept", json={"token": second["token"]}), 401, "unauthenticated")
        person = identity(platform, f"m3-{run}")
        error(accept(platform, f"inv_{tenant_id}.{'A' * 43}", person), 404, "invitation_not_found")
        error(accept(platform, "garbage", person), 404, "invitation_not_found")
        with client(platform, person) as someone:
            error(someone.post("/v1/invitations/accept", json={"token": ""}), 422)
            error(someone.post("/v1/invitations/accept", json={"token": "x" * 5000}), 422)
            error(someone.post("/v1/invitations/accept", json={"token": second["token"], "role": "owner"}), 422)
        statuses = {i["id"]: i["status"] for i in every_item(owner, invite)}
        assert statuses[second["id"]] == "pending" and statuses[mine["id"]] == "accepted"
