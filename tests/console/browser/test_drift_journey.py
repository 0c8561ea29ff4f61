"""Journey: an admin opens last night's drift report, applies its safe-mode advice with one click, and the
tenant's budget carries the new soft limit."""

from __future__ import annotations

from decimal import Decimal

import httpx
from playwright.sync_api import Page, expect

from tests.console.browser.conftest import shot
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.console.drift_seed import SAFE_MODE_ADVICE, seed_drift_report
from tests.e2e.platform import Platform


def test_apply_a_drift_reports_advice_from_the_console(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Browser drift")
    rid = seed_drift_report(platform, tenant_id, [SAFE_MODE_ADVICE])
    page.goto(f"{console_gateway.url}/console/drift")
    page.fill("#credential", key)
    page.click("#sign-in")
    page.click(f"a[href$='/console/drift/{rid}']")
    advice = page.locator("#advice tr[data-advice='0']")
    expect(advice).to_contain_text("cost per turn rose 40%")
    shot(page, "drift-advice")
    advice.locator("button.apply-advice").click()
    expect(page.locator("#advice tr[data-advice='0']")).to_contain_text(" by ")
    expect(page.locator("#advice button.apply-advice")).to_have_count(0)
    shot(page, "drift-advice-applied")
    with httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {key}"}) as api:
        assert Decimal(str(api.get("/v1/budgets").json()["limits"]["daily_soft_usd"])) == Decimal("12.50")
