"""Journeys through the console in a real browser: what a tenant user and an operator actually click."""

from __future__ import annotations

import uuid

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.browser.conftest import shot
from tests.console.conftest import ConsoleGateway, new_tenant, open_circuit
from tests.console.console_client import post_until
from tests.e2e.platform import Platform


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> tuple[str, str]:
    return new_tenant(platform, "Browser")


def _api(gateway: ConsoleGateway, key: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def sign_in(page: Page, gateway: ConsoleGateway, credential: str, start: str = "/console/") -> None:
    page.goto(gateway.url + start)
    expect(page).to_have_url(f"{gateway.url}/console/sign-in?next={start}")
    page.fill("#credential", credential)
    page.click("#sign-in")
    expect(page.locator("#who")).to_be_visible()


def test_sign_in_and_out(page: Page, console_gateway: ConsoleGateway, tenant: tuple[str, str]) -> None:
    page.goto(console_gateway.url + "/console/sign-in")
    page.fill("#credential", "ak_not_a_key")
    page.click("#sign-in")
    expect(page.locator("#sign-in-error")).to_contain_text("invalid")
    sign_in(page, console_gateway, tenant[1])
    expect(page).to_have_url(f"{console_gateway.url}/console/conversations")
    shot(page, "signed-in")
    # The session cookie is out of reach of the page's scripts.
    assert page.evaluate("document.cookie") == ""
    page.click("text=Sign out")
    expect(page).to_have_url(f"{console_gateway.url}/console/sign-in")


def test_the_live_view_shows_a_streamed_token(
    page: Page, console_gateway: ConsoleGateway, tenant: tuple[str, str]
) -> None:
    api = _api(console_gateway, tenant[1])
    cid = api.post("/v1/conversations", json={"agent": "support", "channel": "web"}).json()["id"]
    sign_in(page, console_gateway, tenant[1])
    page.click(f"a.conversation[href='/console/conversations/{cid}']")
    expect(page.locator("#live")).to_have_attribute("data-state", "open")
    text = f"hello {uuid.uuid4().hex[:6]}"
    sent = api.post(f"/v1/conversations/{cid}/messages", json={"content": text})
    assert sent.status_code == 202, sent.text
    expect(page.locator("#live-answer")).to_have_text(f"echo: {text}")
    expect(page.locator("#live-events li[data-type='message.completed']")).to_have_count(1)
    shot(page, "live-view")
    page.reload()
    expect(page.locator("#transcript")).to_contain_text(f"echo: {text}")


def test_revoking_a_key_makes_the_next_api_request_fail(
    page: Page, console_gateway: ConsoleGateway, tenant: tuple[str, str]
) -> None:
    sign_in(page, console_gateway, tenant[1], "/console/api-keys")
    name = f"ci-{uuid.uuid4().hex[:6]}"
    page.fill("#key-name", name)
    page.click("#create-key")
    key = page.locator("#new-key").inner_text()
    assert _api(console_gateway, key).get("/v1/conversations").status_code == 200
    row = page.locator(f"tr[data-name='{name}']")
    row.locator("button.revoke").click()
    expect(page.locator(f"tr[data-name='{name}'] .key-state")).to_have_text("revoked")
    shot(page, "key-revoked")
    refused = _api(console_gateway, key).get("/v1/conversations")
    assert refused.status_code == 401


def test_a_tenant_user_reaches_neither_another_tenant_nor_operator_pages(
    page: Page, console_gateway: ConsoleGateway, platform: Platform, tenant: tuple[str, str]
) -> None:
    other_id, other_key = new_tenant(platform, "Browser other")
    other_cid = _api(console_gateway, other_key).post("/v1/conversations", json={"agent": "support"}).json()["id"]
    sign_in(page, console_gateway, tenant[1])
    page.goto(f"{console_gateway.url}/console/conversations/{other_cid}")
    expect(page.locator("#error-code")).to_have_attribute("data-code", "conversation_not_found")
    shot(page, "other-tenant-404")
    for path in ("/console/tenants", "/console/health"):
        page.goto(console_gateway.url + path)
        expect(page.locator("#error-code")).to_have_attribute("data-code", "forbidden")
    assert other_id not in page.content()
    # No operator link is even offered.
    expect(page.locator("header nav a[href='/console/tenants']")).to_have_count(0)


def test_an_operator_creates_and_suspends_a_tenant(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    sign_in(page, console_gateway, console_gateway.operator_token(platform), "/console/tenants")
    name = f"Browser made {uuid.uuid4().hex[:6]}"
    page.fill("#tenant-name", name)
    page.click("#create-tenant")
    owner_key = page.locator("#owner-key").inner_text()
    assert _api(console_gateway, owner_key).get("/v1/conversations").status_code == 200
    page.locator(f"tr[data-name='{name}'] button.suspend").click()
    expect(page.locator(f"tr[data-name='{name}'] .tenant-status")).to_have_text("suspended")
    shot(page, "tenant-suspended")
    refused = _api(console_gateway, owner_key).get("/v1/conversations")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "tenant_suspended"


def test_edit_an_agent_and_roll_it_back(page: Page, console_gateway: ConsoleGateway, platform: Platform) -> None:
    # A tenant of its own: the other journeys talk to the shipped `support` agent.
    _tenant_id, key = new_tenant(platform, "Browser agents")
    sign_in(page, console_gateway, key, "/console/agents")
    page.click("tr[data-agent='support'] a")
    shipped = page.locator("#agent-prompt").input_value()
    page.fill("#agent-prompt", "Answer only in haiku.")
    page.click("#save-agent")
    expect(page.locator("#agent-version")).to_have_attribute("data-current", "1")
    expect(page.locator("#agent-prompt")).to_have_value("Answer only in haiku.")
    shot(page, "agent-edited")
    page.locator("#versions tr[data-version='0'] button.restore").click()
    expect(page.locator("#agent-version")).to_have_attribute("data-current", "2")
    expect(page.locator("#agent-prompt")).to_have_value(shipped)
    shot(page, "agent-rolled-back")
    assert _api(console_gateway, key).get("/v1/agents/support").json()["version"] == 2


def test_compare_two_versions_of_an_agent(page: Page, console_gateway: ConsoleGateway, platform: Platform) -> None:
    _tenant_id, key = new_tenant(platform, "Browser diffs")
    api = _api(console_gateway, key)
    assert api.patch("/v1/agents/support", json={"system_prompt": "Greet.\nAnswer briefly."}).status_code == 201
    edited = api.patch("/v1/agents/support", json={"system_prompt": "Greet.\nAnswer in detail.", "tools": []})
    assert edited.status_code == 201 and edited.json()["version"] == 2
    sign_in(page, console_gateway, key, "/console/agents/support")
    page.click("#last-change")
    expect(page.locator("h1")).to_have_text("Agent support: version 1 to version 2")
    expect(page.locator("#prompt-diff .removed")).to_have_text(["- Answer briefly."])
    expect(page.locator("#prompt-diff .added")).to_have_text(["+ Answer in detail."])
    expect(page.locator("#field-changes tr[data-field='tools']")).to_be_visible()
    shot(page, "agent-diff")
    page.select_option("#compare select[name='from']", "2")
    page.click("#compare button")
    expect(page.locator("#no-differences")).to_be_visible()


def test_switch_off_a_tool_and_close_its_open_circuit(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    tenant_id, key = new_tenant(platform, "Browser tools")
    tool = "orders.lookup"

    open_circuit(platform, tenant_id, tool)
    sign_in(page, console_gateway, key, "/console/tools")
    row = page.locator(f"tr[data-tool='{tool}']")
    expect(row.locator(".tool-breaker")).to_have_text("open")
    shot(page, "tools-circuit-open")
    row.locator("button.close-breaker").click()
    expect(page.locator(f"tr[data-tool='{tool}'] .tool-breaker")).to_have_text("closed")
    page.locator(f"tr[data-tool='{tool}'] button.toggle").click()
    expect(page.locator(f"tr[data-tool='{tool}'] .tool-enabled")).to_have_text("off")
    listed = _api(console_gateway, key).get("/v1/tools", params={"limit": 200}).json()["items"]
    assert [(t["enabled"], t["breaker"]) for t in listed if t["name"] == tool] == [(False, "closed")]


def test_usage_charts_and_a_budget_that_stops_new_work(
    page: Page, console_gateway: ConsoleGateway, platform: Platform
) -> None:
    _tenant_id, key = new_tenant(platform, "Browser budget")
    api = _api(console_gateway, key)
    cid = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    sign_in(page, console_gateway, key, "/console/usage")
    expect(page.locator("#chart-spend svg rect")).to_have_count(30)
    expect(page.locator("#chart-tokens svg rect")).to_have_count(30)
    shot(page, "usage")
    page.click("header nav a[href='/console/budgets']")
    page.fill("#daily_hard", "0")
    page.click("#save-budget")
    expect(page.locator("#budget-mode")).to_have_attribute("data-mode", "blocked")
    shot(page, "budget-blocked")
    refused = post_until(api, cid, 402)
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
    page.fill("#daily_hard", "")
    page.click("#save-budget")
    expect(page.locator("#budget-mode")).to_have_attribute("data-mode", "normal")
    assert post_until(api, cid, 202).status_code == 202


def test_register_a_webhook_and_see_its_delivery(
    page: Page, console_gateway: ConsoleGateway, tenant: tuple[str, str]
) -> None:
    sign_in(page, console_gateway, tenant[1], "/console/webhooks")
    # A public address literal: passes the SSRF check without DNS (its deliveries fail and retry).
    page.fill("#endpoint-url", "https://93.184.215.14/hooks")
    page.click("#register")
    expect(page.locator("#new-secret")).to_contain_text("whsec_")
    page.locator("#endpoints tr button.ping").first.click()
    delivery = page.locator("#deliveries tr[data-delivery]").first
    expect(delivery).to_be_visible()
    shot(page, "webhook-delivery")
    delivery.locator("a").click()
    expect(page.locator("#delivery-status")).to_be_visible()
    page.click("#redeliver")
    expect(page.locator("#delivery-status")).to_be_visible()
    assert len(_api(console_gateway, tenant[1]).get("/v1/webhooks/deliveries").json()["items"]) == 2
