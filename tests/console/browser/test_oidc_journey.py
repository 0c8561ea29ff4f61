"""Journey: "Sign in with Test IdP" in Chromium, the provider sends the browser back, the tenant's pages show;
signing out ends the provider's session too and lands on the sign-in page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.browser.conftest import chromium, shot
from tests.console.conftest import new_tenant
from tests.console.oidc_world import PROVIDER_NAME, OidcWorld


# This module's own browser, after the gateway this journey signs in to (the shared one waits for another).
@pytest.fixture(scope="module")
def browser(oidc_world: OidcWorld) -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_sign_in_with_the_identity_provider_and_out(oidc_world: OidcWorld, page: Page) -> None:
    tenant_id, _key = new_tenant(oidc_world.platform, "OIDC journey")
    subject = oidc_world.member(tenant_id, "admin")
    oidc_world.provider.reset({"sub": subject, "tenant_id": tenant_id})
    logouts = len(oidc_world.provider.logouts)

    page.goto(f"{oidc_world.url}/console/conversations")
    expect(page).to_have_url(f"{oidc_world.url}/console/sign-in?next=/console/conversations")
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    # To the provider, which approves at once and redirects to the callback, which opens the session.
    page.wait_for_url(f"{oidc_world.url}/console/conversations")
    expect(page.locator("#who")).to_have_text(subject)
    expect(page.get_by_role("link", name="Conversations")).to_be_visible()
    expect(page.get_by_role("link", name="Tenants")).to_have_count(0)
    page.get_by_role("link", name="API keys").click()
    expect(page.locator("h1")).to_contain_text("API keys")
    shot(page, "oidc-signed-in")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{oidc_world.url}/console/sign-in")
    assert len(oidc_world.provider.logouts) == logouts + 1
    page.goto(f"{oidc_world.url}/console/conversations")
    expect(page.locator("#sign-in-oidc")).to_be_visible()
    shot(page, "oidc-signed-out")


def test_a_member_of_two_tenants_chooses_one_and_the_session_renews_until_sign_out(
    oidc_world: OidcWorld, page: Page
) -> None:
    tenant_a, _ = new_tenant(oidc_world.platform, "Picker journey A")
    tenant_b, _ = new_tenant(oidc_world.platform, "Picker journey B")
    subject = oidc_world.member(tenant_a, "admin")
    oidc_world.join(subject, tenant_b, "viewer")
    provider = oidc_world.provider
    # The token names no tenant; ID tokens of 30 s, inside the renewal margin: every click renews.
    provider.reset({"sub": subject})
    provider.refresh_tokens, provider.id_token_ttl = True, 30

    page.goto(f"{oidc_world.url}/console/api-keys")
    page.get_by_role("link", name=f"Sign in with {PROVIDER_NAME}").click()
    page.wait_for_url(f"{oidc_world.url}/console/choose-tenant?next=%2Fconsole%2Fapi-keys")
    expect(page.locator("#memberships tbody tr")).to_have_count(2)
    shot(page, "oidc-choose-tenant")
    page.locator(f'tr[data-tenant="{tenant_a}"] button').click()
    page.wait_for_url(f"{oidc_world.url}/console/api-keys")
    expect(page.locator("h1")).to_contain_text("API keys")
    page.get_by_role("link", name="Conversations").click()
    expect(page.locator("#who")).to_have_text(subject)
    assert len(provider.refreshes) >= 2  # renewed on the clicks, the session going on

    page.locator("#switch-tenant").click()
    page.locator(f'tr[data-tenant="{tenant_b}"] button').click()
    page.goto(f"{oidc_world.url}/console/api-keys")
    expect(page.locator("h1")).to_have_text("403")  # a viewer in B: the API's refusal

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{oidc_world.url}/console/sign-in")
    assert [revoked["token_type_hint"] for revoked in provider.revocations] == ["refresh_token"]
