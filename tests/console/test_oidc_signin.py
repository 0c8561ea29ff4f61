"""Signing in to the console through the identity provider: the flow, who gets what, and every refusal.

The provider is a real HTTP server (tests/console/oidc_provider.py); the gateway, Postgres and Redis are the
platform's. Each refusal must be the sign-in page with a 4xx (503 when the provider is down) and a code,
never a 500, and must open no session.
"""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.console.conftest import new_tenant
from tests.console.console_client import Console
from tests.console.oidc_provider import API_AUDIENCE, TestIdentityProvider
from tests.console.oidc_world import OidcWorld, authorize_query, error_code, sign_in
from tests.e2e.platform import Platform

_MAX_AGE = re.compile(r"aiaas_session=[^;]*;.*?Max-Age=(\d+)", re.IGNORECASE)
_REFRESH = re.compile(r'http-equiv="refresh" content="0;url=([^"]+)"')


@pytest.fixture(scope="module")
def tenant_a(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "OIDC A")


@pytest.fixture(scope="module")
def tenant_b(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "OIDC B")


@pytest.fixture
def console(oidc_console: Console) -> Console:
    return oidc_console


def _as(provider: TestIdentityProvider, subject: str, **claims: object) -> None:
    provider.reset({"sub": subject, **claims})


def _refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text
    assert "aiaas_session" not in response.cookies


def test_a_member_signs_in_and_sees_only_their_tenant(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str], tenant_b: tuple[str, str]
) -> None:
    form = console.get("/console/sign-in")
    assert 'id="sign-in-oidc"' in form.text and "Sign in with Test IdP" in form.text
    subject = oidc_world.member(tenant_a[0], "admin")
    _as(oidc_world.provider, subject, tenant_id=tenant_a[0])

    started = console.get("/console/sign-in/oidc", params={"next": "/console/api-keys"})
    query = authorize_query(started)
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"] and query["nonce"] and query["client_id"] == "aiaas-console"
    assert "openid" in query["scope"].split()
    binding = started.headers["set-cookie"]
    assert "aiaas_oidc=" in binding and "HttpOnly" in binding and "samesite=lax" in binding.lower()
    back = console.http.get(console.http.get(started.headers["location"]).headers["location"])
    assert back.status_code == 303 and back.headers["location"] == "/console/api-keys"
    session_cookie = back.headers["set-cookie"]
    assert "aiaas_session=" in session_cookie and "HttpOnly" in session_cookie

    keys = console.get("/console/api-keys")
    assert keys.status_code == 200 and subject in keys.text
    # Tenant B's conversation and key are the API's 404 from this session; B's key keeps working.
    api_b = httpx.Client(base_url=oidc_world.url, headers={"Authorization": f"Bearer {tenant_b[1]}"})
    conversation_b = api_b.post("/v1/conversations", json={"agent": "support", "channel": "web"}).json()["id"]
    key_b = api_b.get("/v1/api-keys").json()["items"][0]["id"]
    console.csrf = console.token()
    assert console.get(f"/console/conversations/{conversation_b}").status_code == 404
    assert console.post(f"/console/api-keys/{key_b}/revoke").status_code == 404
    assert key_b not in keys.text
    assert api_b.get("/v1/api-keys").status_code == 200
    # Operator pages are refused as the API refuses them.
    assert console.get("/console/tenants").status_code == 403
    assert console.get("/console/health").status_code == 403


def test_operators_by_database_role_and_by_claim(oidc_world: OidcWorld, console: Console) -> None:
    _as(oidc_world.provider, oidc_world.operator("platform_admin"))
    assert sign_in(oidc_world, console.http, next="/console/tenants").status_code == 303
    assert console.get("/console/tenants").status_code == 200
    assert console.get("/console/health").status_code == 200

    claimed = Console(oidc_world.url)
    try:
        _as(oidc_world.provider, f"ops-{uuid.uuid4().hex[:6]}", platform_role="platform_operator")
        assert sign_in(oidc_world, claimed.http).status_code == 303
        assert claimed.get("/console/health").status_code == 200
        # An operator is not an admin: the tenants page needs `platform_admin`, as on the API.
        assert claimed.get("/console/tenants").status_code == 403
    finally:
        claimed.close()


def test_roles_come_from_claims_as_on_the_api(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]
) -> None:
    # No membership, but the token says viewer: the API would take the claim, so the console does too.
    provider = oidc_world.provider
    subject = f"claims-{uuid.uuid4().hex[:6]}"
    _as(provider, subject, tenant_id=tenant_a[0], roles=["viewer"])
    assert sign_in(oidc_world, console.http).status_code == 303
    assert console.get("/console/conversations").status_code == 200
    assert console.get("/console/api-keys").status_code == 403  # keys:manage is not a viewer's
    # The same person's token for the API (its audience) is decided the same way there.
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": API_AUDIENCE, "iat": now, "exp": now + 600, "sub": subject}
    api = httpx.Client(
        base_url=oidc_world.url,
        headers={"Authorization": f"Bearer {provider.sign({**claims, 'tenant_id': tenant_a[0], 'roles': ['viewer']})}"},
    )
    assert api.get("/v1/conversations").status_code == 200
    assert api.get("/v1/api-keys").status_code == 403


def test_identities_that_may_do_nothing_are_refused(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]
) -> None:
    _as(oidc_world.provider, f"stranger-{uuid.uuid4().hex[:6]}")
    refused = sign_in(oidc_world, console.http)
    _refused(refused, 403, "no_access")
    assert "member of no tenant and holds no platform role" in refused.text
    # Naming a tenant in the token is not enough without a membership or roles.
    _as(oidc_world.provider, f"stranger-{uuid.uuid4().hex[:6]}", tenant_id=tenant_a[0])
    _refused(sign_in(oidc_world, console.http), 403, "no_access")
    assert console.get("/console/conversations").status_code == 303


def test_provider_refusals_and_outages(oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]) -> None:
    provider = oidc_world.provider
    subject = oidc_world.member(tenant_a[0], "viewer")
    _as(provider, subject, tenant_id=tenant_a[0])
    provider.deny = True
    _refused(sign_in(oidc_world, console.http), 403, "access_denied")
    provider.deny, provider.down = False, True
    _refused(sign_in(oidc_world, console.http), 503, "provider_unavailable")


def test_state_missing_unknown_replayed_and_from_another_browser(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]
) -> None:
    _as(oidc_world.provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    _refused(console.get("/console/oidc/callback", params={"code": "x"}), 400, "state_missing")
    _refused(console.get("/console/oidc/callback", params={"code": "x", "state": "made-up"}), 400, "state_unknown")

    started = console.get("/console/sign-in/oidc")
    callback = console.http.get(started.headers["location"]).headers["location"]
    # The redirect carried to another browser (no binding cookie there) fails, and uses the attempt up.
    other = httpx.Client(timeout=30)
    try:
        _refused(other.get(callback), 400, "state_mismatch")
    finally:
        other.close()
    _refused(console.http.get(callback), 400, "state_unknown")

    # A completed sign-in's redirect replayed in the same browser finds its state used.
    started = console.get("/console/sign-in/oidc")
    callback = console.http.get(started.headers["location"]).headers["location"]
    assert console.http.get(callback).status_code == 303
    _refused(console.http.get(callback), 400, "state_unknown")


def test_a_code_used_once_is_refused_again(oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]) -> None:
    _as(oidc_world.provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    first = console.http.get(console.get("/console/sign-in/oidc").headers["location"]).headers["location"]
    code = authorize_query(httpx.Response(302, headers={"location": first}))["code"]
    assert console.http.get(first).status_code == 303
    # A fresh, valid state of this browser, with the code already exchanged.
    second = console.http.get(console.get("/console/sign-in/oidc").headers["location"]).headers["location"]
    state = authorize_query(httpx.Response(302, headers={"location": second}))["state"]
    replayed = console.get("/console/oidc/callback", params={"state": state, "code": code})
    assert replayed.status_code == 400 and error_code(replayed) == "code_refused", replayed.text


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"nonce": "another-sign-in"}, "nonce_mismatch"),
        ({"iss": "http://127.0.0.1:9/other-issuer"}, "id_token_issuer"),
        ({"aud": "another-application"}, "id_token_audience"),
        ({"exp": 1_000_000_000, "iat": 999_999_000}, "id_token_expired"),
        ({"sub": None}, "id_token_invalid"),
    ],
)
def test_id_tokens_that_do_not_verify(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str], change: dict[str, object], code: str
) -> None:
    _as(oidc_world.provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    oidc_world.provider.id_token_changes = change
    _refused(sign_in(oidc_world, console.http), 401, code)


def test_an_id_token_signed_with_another_key(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]
) -> None:
    provider = oidc_world.provider
    _as(provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    provider.forge_key = True
    try:
        _refused(sign_in(oidc_world, console.http), 401, "id_token_signature")
    finally:
        provider.forge_key = False


def test_next_stays_inside_the_console(oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]) -> None:
    _as(oidc_world.provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    for target in ("//evil.example/console/x", "https://evil.example/", "/console\\..\\x", "/elsewhere"):
        back = sign_in(oidc_world, console.http, next=target)
        assert back.status_code == 303 and back.headers["location"] == "/console/", target


def test_the_id_token_is_no_api_credential(oidc_world: OidcWorld, tenant_a: tuple[str, str]) -> None:
    # The console client's audience is not the API's: the ID token in a session never passes as a Bearer token.
    provider = oidc_world.provider
    subject = oidc_world.member(tenant_a[0], "viewer")
    id_token = provider.id_token({"sub": subject, "tenant_id": tenant_a[0]}, nonce="n")
    answer = httpx.get(f"{oidc_world.url}/v1/conversations", headers={"Authorization": f"Bearer {id_token}"})
    assert answer.status_code == 401


def test_the_session_ends_with_its_token(oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]) -> None:
    provider = oidc_world.provider
    _as(provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    provider.id_token_ttl = 8
    try:
        back = sign_in(oidc_world, console.http)
    finally:
        provider.id_token_ttl = 3600
    answered = time.monotonic()
    assert back.status_code == 303
    max_age = _MAX_AGE.search(back.headers["set-cookie"])
    assert max_age is not None and 1 <= int(max_age.group(1)) <= 8  # the token's time left, not 8 hours
    session = back.cookies["aiaas_session"]
    assert console.get("/console/conversations").status_code == 200
    time.sleep(max(0.0, answered + int(max_age.group(1)) + 1 - time.monotonic()))
    # The cookie's Max-Age has run out in a browser; sent anyway, Redis no longer holds the session either.
    late = httpx.get(f"{oidc_world.url}/console/conversations", cookies={"aiaas_session": session})
    assert late.status_code == 303 and late.headers["location"].startswith("/console/sign-in")


def test_sign_out_ends_the_provider_session_too(
    oidc_world: OidcWorld, console: Console, tenant_a: tuple[str, str]
) -> None:
    provider = oidc_world.provider
    _as(provider, oidc_world.member(tenant_a[0], "viewer"), tenant_id=tenant_a[0])
    assert sign_in(oidc_world, console.http).status_code == 303
    console.csrf = console.token()
    before = len(provider.logouts)
    out = console.post("/console/sign-out")
    assert out.status_code == 200 and 'id="provider-logout"' in out.text
    logout_url = _REFRESH.search(out.text)
    assert logout_url is not None
    back = httpx.get(logout_url.group(1).replace("&amp;", "&"))
    assert back.status_code == 302 and back.headers["location"].endswith("/console/sign-in")
    assert len(provider.logouts) == before + 1
    assert provider.logouts[-1]["client_id"] == "aiaas-console" and provider.logouts[-1]["id_token_hint"]
    assert console.get("/console/conversations").status_code == 303


def test_suspending_the_tenant_ends_the_session_and_refuses_the_next_sign_in(
    oidc_world: OidcWorld, console: Console, platform: Platform
) -> None:
    provider = oidc_world.provider
    tenant_id, _key = new_tenant(platform, "OIDC suspended")
    subject = oidc_world.member(tenant_id, "admin")
    _as(provider, subject, tenant_id=tenant_id)
    assert sign_in(oidc_world, console.http).status_code == 303
    assert console.get("/console/conversations").status_code == 200
    # The provider's access token (the API's audience) is what the API takes; an operator's suspends the tenant.
    now = int(time.time())
    claims = {"iss": provider.issuer, "aud": API_AUDIENCE, "iat": now, "exp": now + 600}
    operator = provider.sign({**claims, "sub": f"ops-{uuid.uuid4().hex[:6]}", "platform_role": "platform_admin"})
    suspended = httpx.post(
        f"{oidc_world.url}/v1/admin/tenants/{tenant_id}/suspend", headers={"Authorization": f"Bearer {operator}"}
    )
    assert suspended.status_code == 200, suspended.text
    assert console.get("/console/conversations").status_code == 403
    again = Console(oidc_world.url)
    try:
        _refused(sign_in(oidc_world, again.http), 403, "tenant_suspended")
    finally:
        again.close()
