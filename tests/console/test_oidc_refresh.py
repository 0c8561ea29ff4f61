"""Console sessions that renew their ID token with the provider's refresh token, and what ends them.

The provider (tests/console/oidc_provider.py) issues rotating refresh tokens and ID tokens of 30 s, inside the
gateway's renewal margin (`AIAAS_OIDC_REFRESH_BEFORE_SECONDS`, 60 s by default), so every request of these
sessions renews: each new ID token must verify as at sign-in and name the same person, and any failure ends
the session with the sign-in page, never a 500.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from core.settings import Settings
from tenancy.jwt import JwtConfig, JwtVerifier
from tenancy.oidc import OidcClient
from tests.console.conftest import new_tenant
from tests.console.console_client import Console
from tests.console.oidc_provider import TestIdentityProvider
from tests.console.oidc_world import OidcWorld, sign_in
from tests.e2e.platform import Platform

_MAX_AGE = re.compile(r"aiaas_session=[^;]*;.*?Max-Age=(\d+)", re.IGNORECASE)
SHORT_ID_TOKEN = 30


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "OIDC refresh")


@pytest.fixture
def console(oidc_console: Console) -> Console:
    return oidc_console


def _signed_in(world: OidcWorld, console: Console, tenant_id: str, *, ttl: int = SHORT_ID_TOKEN) -> str:
    """A new admin of the tenant, signed in with refresh tokens and ID tokens of `ttl` seconds; their subject."""
    provider = world.provider
    subject = world.member(tenant_id, "admin")
    provider.reset({"sub": subject, "tenant_id": tenant_id})
    provider.refresh_tokens, provider.id_token_ttl = True, ttl
    back = sign_in(world, console.http, next="/console/api-keys")
    assert back.status_code == 303 and back.headers["location"] == "/console/api-keys", back.text
    return subject


def _grants(provider: TestIdentityProvider, subject: str) -> list[str]:
    return [token for token, grant in provider.refresh_grants.items() if grant.claims["sub"] == subject]


def _sent_to_sign_in(answer: httpx.Response) -> None:
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/console/sign-in")


def test_the_id_token_is_renewed_before_it_expires_and_the_session_outlives_it(
    oidc_world: OidcWorld, console: Console, tenant: tuple[str, str]
) -> None:
    provider = oidc_world.provider
    subject = oidc_world.member(tenant[0], "admin")
    provider.reset({"sub": subject, "tenant_id": tenant[0]})
    provider.refresh_tokens, provider.id_token_ttl = True, SHORT_ID_TOKEN
    back = sign_in(oidc_world, console.http, next="/console/api-keys")
    # With a refresh token the session lives the console's session time, not the ID token's 30 s.
    max_age = _MAX_AGE.search(back.headers["set-cookie"])
    assert max_age is not None and int(max_age.group(1)) > 3600
    [first] = _grants(provider, subject)

    assert console.get("/console/api-keys").status_code == 200
    assert provider.refreshes == [first] and provider.refresh_grants[first].used
    assert console.get("/console/api-keys").status_code == 200
    # The rotated refresh token was stored and used next; the first one is spent.
    second = _grants(provider, subject)[1]
    assert provider.refreshes == [first, second]
    assert subject in console.get("/console/api-keys").text


def test_parallel_requests_renew_once(oidc_world: OidcWorld, console: Console, tenant: tuple[str, str]) -> None:
    # A page's parallel requests, all finding the token due: one renews at a time, the others go on with the
    # current (still valid) token, and none presents the rotating provider with a spent refresh token (which
    # it would refuse, ending the session). Tokens of 30 s are due again at once, so more may renew in turn.
    subject = _signed_in(oidc_world, console, tenant[0])
    cookies = dict(console.http.cookies)

    def page(_: int) -> int:
        with httpx.Client(base_url=oidc_world.url, cookies=cookies, timeout=30) as client:
            return client.get("/console/api-keys").status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(page, range(6)))
    assert answers == [200] * 6
    presented = oidc_world.provider.refreshes
    assert presented and len(set(presented)) == len(presented)
    assert console.get("/console/api-keys").status_code == 200
    assert len(_grants(oidc_world.provider, subject)) == len(presented) + 1


def test_a_token_far_from_expiry_is_not_renewed(
    oidc_world: OidcWorld, console: Console, tenant: tuple[str, str]
) -> None:
    subject = _signed_in(oidc_world, console, tenant[0], ttl=3600)
    for _ in range(3):
        assert console.get("/console/api-keys").status_code == 200
    assert oidc_world.provider.refreshes == [] and len(_grants(oidc_world.provider, subject)) == 1


@pytest.mark.parametrize(
    "failure", ["revoked", "provider_down", "another_person", "another_audience", "another_issuer", "forged_signature"]
)
def test_a_failed_renewal_ends_the_session_with_the_sign_in_page(
    oidc_world: OidcWorld, console: Console, tenant: tuple[str, str], failure: str
) -> None:
    provider = oidc_world.provider
    subject = _signed_in(oidc_world, console, tenant[0])
    assert console.get("/console/api-keys").status_code == 200
    if failure == "revoked":
        provider.revoke_all(subject)
    elif failure == "provider_down":
        provider.down = True
    elif failure == "another_person":
        provider.id_token_changes = {"sub": oidc_world.member(tenant[0], "owner")}
    elif failure == "another_audience":
        provider.id_token_changes = {"aud": "another-client"}
    elif failure == "another_issuer":
        provider.id_token_changes = {"iss": "https://idp.example"}
    else:
        provider.forge_key = True
    _sent_to_sign_in(console.get("/console/api-keys"))
    # The session is gone, not merely refused once: with the provider well again, nothing comes back.
    provider.reset({"sub": subject, "tenant_id": tenant[0]})
    _sent_to_sign_in(console.get("/console/api-keys"))
    _sent_to_sign_in(console.post("/console/sign-out"))


def test_signing_out_revokes_the_refresh_token_at_the_provider(
    oidc_world: OidcWorld, console: Console, tenant: tuple[str, str]
) -> None:
    provider = oidc_world.provider
    subject = _signed_in(oidc_world, console, tenant[0])
    console.csrf = console.token()  # a page, so a renewal: the stored token is the rotated one
    current = _grants(provider, subject)[-1]
    signed_out = console.post("/console/sign-out")
    assert signed_out.status_code == 200 and 'id="signed-out"' in signed_out.text
    assert provider.revocations == [{"token": current, "token_type_hint": "refresh_token"}]
    assert provider.refresh_grants[current].revoked
    _sent_to_sign_in(console.get("/console/api-keys"))


def test_offline_access_is_asked_for_only_when_configured() -> None:
    plain_settings = Settings(jwt_issuer="https://idp.example", oidc_client_id="aiaas-console")
    offline_settings = plain_settings.model_copy(update={"oidc_offline_access": True})
    verifier = JwtVerifier(JwtConfig.from_settings(plain_settings))
    plain, offline = OidcClient(plain_settings, verifier), OidcClient(offline_settings, verifier)
    assert plain.scope.split() == ["openid", "profile", "email"]
    assert offline.scope.split() == ["openid", "profile", "email", "offline_access"]
