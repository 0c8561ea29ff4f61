"""Members in a real browser: an owner invites a person, who signs in with their own token and accepts; the
owner changes their role and removes them, and the removed person's next page is refused."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, Page, expect

from tenancy.jwt import dev_secret, issue_token
from tests.console.browser.conftest import TIMEOUT_MS, shot
from tests.console.browser.test_journeys import sign_in
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.platform import Platform


def test_invite_accept_change_role_and_remove(
    page: Page, browser: Browser, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, owner_key = new_tenant(platform, "Members")
    email = f"pat-{uuid.uuid4().hex[:6]}@example.com"
    sign_in(page, console_gateway, owner_key, "/console/members")
    page.fill("#invite-email", email)
    page.select_option("#invite-role", "viewer")
    page.click("#send-invitation")
    link = page.locator("#invitation-link").inner_text()
    assert link.startswith(f"{console_gateway.url}/console/invitations/accept?token=inv_{tenant_id}.")
    expect(page.locator(f"#invitations tr[data-email='{email}'] .invitation-status")).to_have_text("pending")
    shot(page, "members-invited")
    # Shown once: the page drawn again has no link.
    page.goto(console_gateway.url + "/console/members")
    expect(page.locator("#invitation-link")).to_have_count(0)

    # The person, in a browser of their own, with their identity provider's token (no role claims).
    person_token = issue_token(
        dev_secret(platform.data_dir),
        subject=f"pat-{uuid.uuid4().hex[:6]}",
        tenant_id=tenant_id,
        extra={"email": email, "email_verified": True},
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    person = context.new_page()
    try:
        person.goto(link)
        expect(person).to_have_url(
            f"{console_gateway.url}/console/sign-in?next=%2Fconsole%2Finvitations%2Faccept%3Ftoken%3D"
            + link.rsplit("=", 1)[1]
        )
        person.fill("#credential", person_token)
        person.click("#sign-in")
        person.click("#accept-invitation")
        expect(person.locator("#accepted-role")).to_have_text("viewer")
        shot(person, "members-accepted")
        person.click("#enter-tenant")
        expect(person).to_have_url(f"{console_gateway.url}/console/conversations")

        page.reload()
        row = page.locator(f"#members tr[data-email='{email}']")
        expect(row.locator(".member-role")).to_have_text("viewer")
        expect(page.locator(f"#invitations tr[data-email='{email}'] .invitation-status")).to_have_text("accepted")
        row.locator("select.role-choice").select_option("developer")
        row.locator("button.change-role").click()
        expect(page.locator(f"#members tr[data-email='{email}'] .member-role")).to_have_text("developer")
        person.reload()
        expect(person.locator("#who")).to_be_visible()

        # Removal only with the box ticked, checked by the server.
        page.locator(f"#members tr[data-email='{email}'] button.remove-member").click()
        expect(page.locator("#form-error")).to_have_attribute("data-code", "confirmation_required")
        row = page.locator(f"#members tr[data-email='{email}']")
        row.locator("input.confirm-remove").check()
        row.locator("button.remove-member").click()
        expect(page.locator(f"#members tr[data-email='{email}']")).to_have_count(0)
        shot(page, "members-removed")

        person.reload()
        expect(person.locator("#error-code")).to_have_attribute("data-code", "forbidden")
        shot(person, "members-removed-person")
    finally:
        context.close()
