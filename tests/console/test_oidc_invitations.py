"""Invitations accepted by people who sign in through the identity provider: a newcomer who belongs to no
tenant yet joins from the invitation's link, a member of one tenant joins another, and nobody else gets a
session out of it."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import new_tenant
from tests.console.console_client import Console
from tests.console.oidc_world import OidcWorld, error_code, sign_in
from tests.e2e.platform import Platform

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PAGE_CODE = re.compile(r'id="error-code" data-code="([^"]*)"')
ACCEPT = "/console/invitations/accept"


@pytest.fixture(scope="module")
def tenants(platform: Platform) -> dict[str, tuple[str, str]]:
    return {name: new_tenant(platform, f"Joining {name}") for name in ("A", "B")}


def _invite(world: OidcWorld, key: str, email: str, role: str = "developer") -> str:
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        made = api.post("/v1/tenant/invitations", json={"email": email, "role": role})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def _page_code(page: httpx.Response) -> str | None:
    """The code of the console's error page (the sign-in page's own is `error_code`)."""
    found = _PAGE_CODE.search(page.text)
    return found.group(1) if found else None


def _accept_form(console: Console, token: str) -> httpx.Response:
    page = console.get(ACCEPT, params={"token": token})
    assert page.status_code == 200, page.text
    found = _CSRF.search(page.text)
    assert found and 'id="accept-invitation"' in page.text
    console.csrf = found.group(1)
    return page


def test_a_newcomer_joins_from_the_link_and_works_in_that_tenant(
    oidc_world: OidcWorld, oidc_console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (tenant_a, key_a), (tenant_b, _) = tenants["A"], tenants["B"]
    subject, email = f"new-{uuid.uuid4().hex[:8]}", f"new.{uuid.uuid4().hex[:8]}@example.com"
    token = _invite(oidc_world, key_a, email)
    oidc_world.provider.reset({"sub": subject, "email": email, "email_verified": True})
    # The link without a session: to the sign-in page, and back to the link after it.
    first = oidc_console.get(ACCEPT, params={"token": token})
    assert first.status_code == 303 and "/console/sign-in" in first.headers["location"]
    back = sign_in(oidc_world, oidc_console.http, next=f"{ACCEPT}?token={quote(token, safe='')}")
    assert back.status_code == 303 and back.headers["location"].startswith(ACCEPT), back.text
    page = _accept_form(oidc_console, token)
    assert subject in page.text
    # Before accepting, the session opens no tenant page: the picker finds nothing and ends it.
    joined = oidc_console.post(ACCEPT, {"token": token})
    assert joined.status_code == 200, joined.text
    assert f'data-tenant="{tenant_a}"' in joined.text and 'id="enter-tenant"' in joined.text
    assert tenant_b not in joined.text
    # The session now works in the tenant joined, with the invitation's role.
    keys = oidc_console.get("/console/conversations")
    assert keys.status_code == 200, keys.text
    assert oidc_console.get("/console/members").status_code == 403  # a developer does not manage members


def test_a_newcomer_without_an_invitation_link_is_still_refused(oidc_world: OidcWorld, oidc_console: Console) -> None:
    oidc_world.provider.reset({"sub": f"nobody-{uuid.uuid4().hex[:8]}"})
    refused = sign_in(oidc_world, oidc_console.http, next="/console/conversations")
    assert refused.status_code == 403 and error_code(refused) == "no_access"
    assert oidc_console.get("/console/conversations").status_code == 303  # no session was opened


def test_a_newcomers_session_opens_nothing_but_the_invitation(
    oidc_world: OidcWorld, oidc_console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    _, key_a = tenants["A"]
    email = f"wary.{uuid.uuid4().hex[:8]}@example.com"
    token = _invite(oidc_world, key_a, email)
    oidc_world.provider.reset({"sub": f"wary-{uuid.uuid4().hex[:8]}", "email": email, "email_verified": True})
    sign_in(oidc_world, oidc_console.http, next=f"{ACCEPT}?token={quote(token, safe='')}")
    _accept_form(oidc_console, token)
    # Any other page: the picker, which finds no membership and ends the session with `no_access`.
    elsewhere = oidc_console.get("/console/api-keys")
    assert elsewhere.status_code == 303 and "/console/choose-tenant" in elsewhere.headers["location"]
    ended = oidc_console.get(elsewhere.headers["location"])
    assert ended.status_code == 403 and error_code(ended) == "no_access"
    assert oidc_console.get(ACCEPT, params={"token": token}).status_code == 303  # signed out


def test_a_forged_or_foreign_invitation_makes_no_member(
    oidc_world: OidcWorld, oidc_console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (tenant_a, key_a), (tenant_b, key_b) = tenants["A"], tenants["B"]
    email = f"mal.{uuid.uuid4().hex[:8]}@example.com"
    token_a = _invite(oidc_world, key_a, email)
    # B's invitation for another address: the person's verified address does not match it.
    token_b = _invite(oidc_world, key_b, f"other.{uuid.uuid4().hex[:8]}@example.com")
    oidc_world.provider.reset({"sub": f"mal-{uuid.uuid4().hex[:8]}", "email": email, "email_verified": True})
    sign_in(oidc_world, oidc_console.http, next=f"{ACCEPT}?token={quote(token_a, safe='')}")
    _accept_form(oidc_console, token_a)
    mismatch = oidc_console.post(ACCEPT, {"token": token_b})
    assert mismatch.status_code == 403 and _page_code(mismatch) == "email_mismatch"
    forged = oidc_console.post(ACCEPT, {"token": f"inv_{tenant_b}.{'x' * 43}"})
    assert forged.status_code == 404 and _page_code(forged) == "invitation_not_found"
    stale = oidc_console.post(ACCEPT, {"token": token_a}, csrf=False)
    assert stale.status_code == 403 and _page_code(stale) == "csrf_failed"
    # Nothing was joined: the own invitation still works, and makes a member of A only.
    joined = oidc_console.post(ACCEPT, {"token": token_a})
    assert joined.status_code == 200 and f'data-tenant="{tenant_a}"' in joined.text
