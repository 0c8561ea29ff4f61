"""Journey: an operator offboards a tenant from the tenants page (typing its name to confirm) and watches the
run go through its stages to the purge on the progress page, which refreshes itself until the run closes."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect

from tests.console.browser.conftest import shot
from tests.console.browser.test_journeys import sign_in
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.platform import Platform


def test_offboard_a_tenant_and_watch_it_to_the_purge(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Browser leaving")
    sign_in(page, console_gateway, console_gateway.operator_token(platform), "/console/tenants")
    page.goto(f"{console_gateway.url}/console/tenants?tenant={tenant_id}")
    row = page.locator(f"tr[data-tenant='{tenant_id}']")
    name = row.get_attribute("data-name") or ""
    row.locator("details.offboard summary").click()
    row.locator("input[name='retention_days']").fill("0")
    row.locator("input[name='reason']").fill("contract ended")
    row.locator("input.confirm-name").fill(name)
    row.locator("button.offboard").click()
    expect(page).to_have_url(f"{console_gateway.url}/console/tenants/{tenant_id}/offboarding")
    expect(page.locator("#offboard-name")).to_have_text(name)
    # Its access ends as offboarding begins.
    refused = httpx.get(f"{console_gateway.url}/v1/conversations", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401
    # No reload: the page refreshes its progress while the run is open.
    section = page.locator("#offboarding")
    expect(section).to_have_attribute("data-stage", "purged", timeout=90_000)
    expect(section).to_have_attribute("data-state", "completed")
    expect(page.locator("#offboard-stages li.done")).to_have_count(5)
    expect(page.locator("#purged")).to_contain_text("rows")
    shot(page, "offboarding-purged")
