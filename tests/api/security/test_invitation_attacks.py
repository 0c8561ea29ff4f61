"""Invitations across tenants: another tenant's ids, keys and tokens reach nothing, and a token makes a member
of its own tenant only, whatever tenant the accepting identity's token names."""

from __future__ import annotations

import uuid

from tests.api.helpers import client, error, every_item, fresh_tenant
from tests.api.test_invitations_api import accept, identity
from tests.e2e.platform import Platform


def test_another_tenant_neither_sees_nor_revokes_nor_accepts_with_its_key(platform: Platform) -> None:
    with fresh_tenant(platform, "Inviter A") as (_a, tenant_a), fresh_tenant(platform, "Other B") as (_b, tenant_b):
        theirs = tenant_a.post("/v1/tenant/invitations", json={"email": "a-staff@example.com", "role": "admin"}).json()
        assert every_item(tenant_b, "/v1/tenant/invitations") == []
        error(tenant_b.delete(f"/v1/tenant/invitations/{theirs['id']}"), 404, "invitation_not_found")
        error(tenant_b.get("/v1/tenant/invitations", params={"cursor": "x.y"}), 400, "invalid_cursor")
        # B's owner key presenting A's token: a key is no person, and nothing happens to the invitation.
        error(
            tenant_b.post("/v1/invitations/accept", json={"token": theirs["token"]}), 403, "identity_required"
        )  # fmt: skip
        # A cursor of A's listing is refused in B's.
        tenant_a.post("/v1/tenant/invitations", json={"email": "a-two@example.com", "role": "viewer"})
        cursor = tenant_a.get("/v1/tenant/invitations", params={"limit": 1}).json()["next_cursor"]
        assert cursor
        error(tenant_b.get("/v1/tenant/invitations", params={"cursor": cursor}), 400, "invalid_cursor")
        status = {i["id"]: i["status"] for i in every_item(tenant_a, "/v1/tenant/invitations")}
        assert status[theirs["id"]] == "pending"


def test_a_token_of_tenant_a_never_grants_tenant_b(platform: Platform) -> None:
    subject = f"mover-{uuid.uuid4().hex[:8]}"
    with fresh_tenant(platform, "Token A") as (a_id, tenant_a), fresh_tenant(platform, "Token B") as (b_id, tenant_b):
        made = tenant_a.post("/v1/tenant/invitations", json={"email": "mover@example.com", "role": "admin"}).json()
        token = made["token"]
        # The tenant part swapped for B's: no row of B has that digest.
        error(accept(platform, token.replace(a_id, b_id), identity(platform, subject)), 404, "invitation_not_found")
        # An identity whose own token names B accepts A's invitation: the membership is in A, never in B.
        in_b = identity(platform, subject, tenant_id=b_id)
        joined = accept(platform, token, in_b)
        assert joined.status_code == 200 and joined.json()["tenant_id"] == a_id, joined.text
        assert subject not in str(every_item(tenant_b, "/v1/tenant/members"))
        assert joined.json()["user_id"] in {m["user_id"] for m in every_item(tenant_a, "/v1/tenant/members")}
        assert joined.json()["user_id"] not in {m["user_id"] for m in every_item(tenant_b, "/v1/tenant/members")}
        with client(platform, in_b) as person_in_b:
            error(person_in_b.get("/v1/tenant/members"), 403, "forbidden")
            error(person_in_b.get("/v1/conversations"), 403, "forbidden")
        with client(platform, identity(platform, subject, tenant_id=a_id)) as person_in_a:
            assert person_in_a.get("/v1/tenant/members").status_code == 200
        # B's invitations list and audit log know nothing of it.
        assert every_item(tenant_b, "/v1/tenant/invitations") == []
        assert made["id"] not in tenant_b.get("/v1/audit").text
