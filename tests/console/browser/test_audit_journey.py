"""Journey: an admin reads the audit log, filters it by action, and sees a row changed behind the API (by
someone holding the schema owner's credentials, past the table's trigger) reported as a broken chain."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
from playwright.sync_api import Page, expect

from db.database import Database, run_sql
from tests.console.browser.conftest import shot
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.platform import Platform


def _tamper(platform: Platform, tenant_id: str) -> str:
    """Change the details of the tenant's first `agent.saved` event; the changed event's id."""

    async def go() -> str:
        owner = Database(platform.settings.database_url or "", pool_size=1)
        try:
            async with owner.tenant_session(tenant_id) as session:
                await run_sql(session, "ALTER TABLE audit.events DISABLE TRIGGER refuse_update_delete")
                changed = await run_sql(
                    session,
                    "UPDATE audit.events SET details = '{\"version\": 99}' WHERE id = (SELECT id FROM audit.events"
                    " WHERE tenant_id = :tid AND action = 'agent.saved' ORDER BY seq LIMIT 1) RETURNING id",
                    {"tid": tenant_id},
                )
                await run_sql(session, "ALTER TABLE audit.events ENABLE TRIGGER refuse_update_delete")
                return str(changed.scalar_one())
        finally:
            await owner.close()

    # A thread of its own: the browser driver keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_the_audit_log_filters_by_action_and_shows_a_tampered_row(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Browser audit")
    with httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as api:
        for prompt in ("Be brief.", "Be briefer."):
            assert api.patch("/v1/agents/support", json={"system_prompt": prompt}).status_code == 201
        assert api.put("/v1/tools/leads.score", json={"enabled": False}).status_code == 200

    page.goto(f"{console_gateway.url}/console/audit")
    page.fill("#credential", key)
    page.click("#sign-in")
    expect(page.locator("#chain")).to_have_attribute("data-ok", "true")
    page.fill("form.filters input[name=action]", "agent.saved")
    page.click("form.filters button")
    expect(page.locator("#audit tbody tr")).to_have_count(2)
    expect(page.locator("#audit tbody")).not_to_contain_text("tool.disabled")
    shot(page, "audit-filtered")

    changed = _tamper(platform, tenant_id)
    page.reload()
    expect(page.locator("#chain")).to_have_attribute("data-ok", "false")
    expect(page.locator("#chain")).to_contain_text(f"Hash chain broken at event {changed}")
    shot(page, "audit-chain-broken")
