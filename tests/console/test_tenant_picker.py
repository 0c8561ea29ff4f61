"""Choosing the tenant in the console when the identity provider's token names none.

The person's memberships are real rows; the choice is checked against them on every request, so a tenant the
person does not belong to can never be chosen (a forged form is 403 and changes nothing), and a membership
removed through the API acts on the person's next click.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from tests.console.conftest import new_tenant
from tests.console.console_client import Console, signed_in
from tests.console.oidc_world import OidcWorld, sign_in
from tests.e2e.platform import Platform

_PICKER_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PICKER = "/console/choose-tenant"


@pytest.fixture(scope="module")
def tenants(platform: Platform) -> dict[str, tuple[str, str]]:
    return {name: new_tenant(platform, f"Picker {name}") for name in ("A", "B", "C")}


@pytest.fixture
def console(oidc_console: Console) -> Console:
    return oidc_console


def _api(world: OidcWorld, key: str) -> httpx.Client:
    return httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _key_id(world: OidcWorld, key: str) -> str:
    with _api(world, key) as api:
        return str(api.get("/v1/api-keys").json()["items"][0]["id"])


def _picker(console: Console, next: str = "/console/api-keys") -> httpx.Response:
    page = console.get(PICKER, params={"next": next})
    assert page.status_code == 200, page.text
    found = _PICKER_CSRF.search(page.text)
    assert found
    console.csrf = found.group(1)
    return page


def _person_of(world: OidcWorld, memberships: list[tuple[str, str]], **claims: object) -> str:
    """A person who is a member of each (tenant, role) and whose tokens name no tenant; signed in next."""
    subject = world.member(*memberships[0])
    for tenant_id, role in memberships[1:]:
        world.join(subject, tenant_id, role)
    world.provider.reset({"sub": subject, **claims})
    return subject


def test_a_member_of_several_tenants_chooses_and_switches(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (a, key_a), (b, key_b), (c, _) = tenants["A"], tenants["B"], tenants["C"]
    _person_of(oidc_world, [(a, "admin"), (b, "viewer")])
    back = sign_in(oidc_world, console.http, next="/console/api-keys")
    assert back.status_code == 303
    assert back.headers["location"] == f"{PICKER}?next={quote('/console/api-keys', safe='')}"
    # Nothing chosen yet: every page sends the person to the picker.
    waiting = console.get("/console/conversations")
    assert waiting.status_code == 303 and waiting.headers["location"].startswith(PICKER)
    page = _picker(console)
    assert a in page.text and b in page.text and c not in page.text

    chose = console.post(PICKER, {"tenant_id": a, "next": "/console/api-keys"})
    assert chose.status_code == 303 and chose.headers["location"] == "/console/api-keys"
    keys = console.get("/console/api-keys")
    assert keys.status_code == 200 and _key_id(oidc_world, key_a) in keys.text
    assert 'id="switch-tenant"' in keys.text
    assert _key_id(oidc_world, key_b) not in keys.text

    _picker(console)
    assert console.post(PICKER, {"tenant_id": b, "next": "/console/conversations"}).status_code == 303
    assert console.get("/console/conversations").status_code == 200
    assert console.get("/console/api-keys").status_code == 403  # a viewer in B


def test_a_forged_choice_is_refused_and_changes_nothing(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (a, key_a), (b, _), (c, _) = tenants["A"], tenants["B"], tenants["C"]
    _person_of(oidc_world, [(a, "admin"), (c, "viewer")])
    assert sign_in(oidc_world, console.http).status_code == 303
    _picker(console)
    for forged in (b, "no-such-tenant", b + " "):
        refused = console.post(PICKER, {"tenant_id": forged})
        assert refused.status_code == 403 and "not_a_member" in refused.text, refused.text
    assert console.get("/console/conversations").headers["location"].startswith(PICKER)
    # Chosen A; a forged switch to B afterwards leaves the session in A.
    assert console.post(PICKER, {"tenant_id": a}).status_code == 303
    assert console.post(PICKER, {"tenant_id": b}).status_code == 403
    assert _key_id(oidc_world, key_a) in console.get("/console/api-keys").text
    # Without the session's CSRF token, or from another origin: refused before anything is looked at.
    assert console.post(PICKER, {"tenant_id": a}, csrf=False).status_code == 403
    assert console.post(PICKER, {"tenant_id": a}, origin="http://evil.example").status_code == 403


def test_roles_in_a_token_naming_no_tenant_do_not_speak_for_the_chosen_one(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (a, _), (b, _) = tenants["A"], tenants["B"]
    _person_of(oidc_world, [(a, "viewer"), (b, "viewer")], roles=["owner"])
    assert sign_in(oidc_world, console.http).status_code == 303
    _picker(console)
    assert console.post(PICKER, {"tenant_id": a}).status_code == 303
    assert console.get("/console/conversations").status_code == 200
    assert console.get("/console/api-keys").status_code == 403  # the membership's viewer, not the claim's owner


def test_a_removed_membership_acts_on_the_next_click(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    (a, key_a), (b, _) = tenants["A"], tenants["B"]
    subject = _person_of(oidc_world, [(a, "admin"), (b, "viewer")])
    assert sign_in(oidc_world, console.http).status_code == 303
    _picker(console)
    assert console.post(PICKER, {"tenant_id": a}).status_code == 303
    assert console.get("/console/api-keys").status_code == 200

    with _api(oidc_world, key_a) as owner:
        members = owner.get("/v1/tenant/members").json()["items"]
        user_id = next(m["user_id"] for m in members if m["email"] == f"{subject}@example.test")
        assert owner.delete(f"/v1/tenant/members/{user_id}").status_code == 204
    gone = console.get("/console/api-keys")
    assert gone.status_code == 303 and gone.headers["location"].startswith(PICKER)
    page = _picker(console)
    assert b in page.text and a not in page.text
    assert console.post(PICKER, {"tenant_id": a}).status_code == 403


def test_one_membership_is_chosen_at_sign_in(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    a, key_a = tenants["A"]
    _person_of(oidc_world, [(a, "admin")])
    back = sign_in(oidc_world, console.http, next="/console/api-keys")
    assert back.status_code == 303 and back.headers["location"] == "/console/api-keys"
    assert _key_id(oidc_world, key_a) in console.get("/console/api-keys").text


def test_an_operator_with_memberships_may_pick_one_or_none(
    oidc_world: OidcWorld, console: Console, tenants: dict[str, tuple[str, str]]
) -> None:
    a, _ = tenants["A"]
    subject = oidc_world.operator("platform_admin")
    oidc_world.join(subject, a, "developer")
    oidc_world.provider.reset({"sub": subject})
    back = sign_in(oidc_world, console.http, next="/console/tenants")
    assert back.status_code == 303 and back.headers["location"] == "/console/tenants"
    page = _picker(console, next="/console/conversations")
    assert a in page.text and 'id="choose-operator"' in page.text
    assert console.post(PICKER, {"tenant_id": a, "next": "/console/conversations"}).status_code == 303
    assert console.get("/console/conversations").status_code == 200
    assert console.get("/console/tenants").status_code == 200
    assert console.post(PICKER, {"tenant_id": ""}).status_code == 303
    assert console.get("/console/conversations").status_code == 403  # no tenant: the API's refusal


def test_sessions_whose_credential_names_the_tenant_have_nothing_to_choose(
    oidc_world: OidcWorld, tenants: dict[str, tuple[str, str]]
) -> None:
    a, key_a = tenants["A"]
    with signed_in(oidc_world.url, key_a) as keyed:
        assert keyed.get(PICKER).headers["location"] == "/console/"
        assert 'id="switch-tenant"' not in keyed.get("/console/conversations").text
        refused = keyed.post(PICKER, {"tenant_id": tenants["B"][0]})
        assert refused.status_code == 403 and "tenant_fixed" in refused.text
        assert keyed.get("/console/api-keys").status_code == 200
    # No session at all: to the sign-in page.
    answer = httpx.post(oidc_world.url + PICKER, data={"tenant_id": a}, headers={"Origin": oidc_world.url})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/sign-in")
