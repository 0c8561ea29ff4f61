"""The members page and the invitation link's page against a real gateway, with the API's permissions."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

import httpx

from tenancy.jwt import dev_secret, issue_token
from tests.api.test_invitations_api import owner_sql
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.console_client import Console, signed_in
from tests.e2e.platform import Platform

_LINK = re.compile(r'<code id="invitation-link">([^<]+)</code>')


def _code(page: httpx.Response) -> str | None:
    found = re.search(r'data-code="([^"]+)"', page.text)
    return found.group(1) if found else None


def _invite(console: Console, email: str, role: str) -> httpx.Response:
    return console.post("/console/members/invitations", {"email": email, "role": role})


def test_managers_invite_revoke_and_are_refused_as_the_api_refuses(
    console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, owner_key = new_tenant(platform, "Console members")
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {owner_key}"}, timeout=30)
    viewer_key = api.post("/v1/api-keys", json={"name": "v", "role": "viewer"}).json()["api_key"]
    admin_key = api.post("/v1/api-keys", json={"name": "a", "role": "admin"}).json()["api_key"]
    with signed_in(console_gateway.url, viewer_key) as viewer:
        assert viewer.get("/console/members").status_code == 403
        refused = _invite(viewer, "v@example.com", "viewer")
        assert refused.status_code == 403 and _code(refused) == "forbidden"
    with signed_in(console_gateway.url, admin_key) as admin:
        page = admin.get("/console/members")
        # Only the roles an admin may grant are offered; an owner invitation posted anyway is the API's 403.
        assert page.status_code == 200 and 'value="owner"' not in page.text and 'value="admin"' in page.text
        assert _invite(admin, "o@example.com", "owner").status_code == 403
    with signed_in(console_gateway.url, owner_key) as owner:
        made = _invite(owner, "sam@example.com", "developer")
        assert made.status_code == 201, made.text
        link = unquote(_LINK.search(made.text).group(1))  # type: ignore[union-attr]
        assert f"token=inv_{tenant_id}." in link
        assert "invitation-link" not in owner.get("/console/members").text
        again = _invite(owner, "SAM@example.com", "viewer")
        assert again.status_code == 409 and _code(again) == "invitation_pending"
        bad = _invite(owner, "not an address", "viewer")
        assert bad.status_code == 422 and _code(bad) == "invalid_email"
        invitation = api.get("/v1/tenant/invitations").json()["items"][0]
        assert owner.post(f"/console/members/invitations/{invitation['id']}/revoke").status_code == 303
        assert api.get("/v1/tenant/invitations").json()["items"][0]["status"] == "revoked"
        assert owner.post("/console/members/invitations/nonsense/revoke").status_code == 404
    api.close()


def test_the_link_signs_in_and_accepts_as_the_person(console_gateway: ConsoleGateway, platform: Platform) -> None:
    tenant_id, owner_key = new_tenant(platform, "Console accept")
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {owner_key}"}, timeout=30)
    made = api.post("/v1/tenant/invitations", json={"email": "lee@example.com", "role": "operator"}).json()
    token = made["token"]
    # Without a session the link goes to sign in and keeps its token for the way back.
    away = httpx.get(f"{console_gateway.url}/console/invitations/accept", params={"token": token})
    assert away.status_code == 303
    assert unquote(away.headers["location"]) == f"/console/sign-in?next=/console/invitations/accept?token={token}"
    # A session opened with a key is not a person.
    with signed_in(console_gateway.url, owner_key) as as_key:
        refused = as_key.post("/console/invitations/accept", {"token": token})
        assert refused.status_code == 403 and _code(refused) == "identity_required"
    person = issue_token(dev_secret(platform.data_dir), subject=f"lee-{uuid.uuid4().hex[:6]}", tenant_id=tenant_id)
    with signed_in(console_gateway.url, person) as lee:
        assert lee.get("/console/invitations/accept").status_code == 404
        shown = lee.get("/console/invitations/accept", params={"token": token})
        assert shown.status_code == 200 and 'id="accept-invitation"' in shown.text
        assert lee.get("/console/members").status_code == 403
        done = lee.post("/console/invitations/accept", {"token": token})
        assert done.status_code == 200 and 'data-role="operator"' in done.text and 'id="enter-tenant"' in done.text
        assert lee.get("/console/conversations").status_code == 200
        used = lee.post("/console/invitations/accept", {"token": token})
        assert used.status_code == 200 and "You had already joined" in used.text
    api.close()


def test_the_invite_form_mails_the_link_when_asked(console_gateway: ConsoleGateway, platform: Platform) -> None:
    _, owner_key = new_tenant(platform, "Console mail")
    mailed, unmailed = f"mo.{uuid.uuid4().hex[:8]}@example.com", f"nu.{uuid.uuid4().hex[:8]}@example.com"
    with signed_in(console_gateway.url, owner_key) as owner:
        made = owner.post("/console/members/invitations", {"email": mailed, "role": "viewer", "send_email": "on"})
        assert made.status_code == 201 and "queued for mailing" in made.text and _LINK.search(made.text)
        plain = _invite(owner, unmailed, "viewer")
        assert plain.status_code == 201 and "No mail is sent" in plain.text
        odd = owner.post("/console/members/invitations", {"email": unmailed, "role": "viewer", "send_email": "yes"})
        assert odd.status_code == 422
    queued = owner_sql(
        platform, "SELECT recipient FROM mail_outbox WHERE recipient IN (:a, :b)", {"a": mailed, "b": unmailed}
    )
    assert [row[0] for row in queued] == [mailed]
