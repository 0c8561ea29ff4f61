"""Approving a refund from the console's inbox, in a real browser, and watching the refund saga finish.

The shop is set up through the API as a customer's conversation would be: the orders agent places an order
of 110.00, then is asked for a refund of 105.00, above the 100.00 that needs a person.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.console.browser.conftest import shot
from tests.console.browser.test_journeys import sign_in
from tests.console.conftest import ConsoleGateway, new_tenant
from tests.e2e.agent_world import answer, call, conversation, of, plan, rows, seed, send, turn
from tests.e2e.platform import Platform
from tests.e2e.sse import events_of, read_frames


@dataclass(frozen=True)
class Waiting:
    key: str
    conversation_id: str
    approval_id: str


@pytest.fixture(scope="module")
def waiting_refund(platform: Platform, console_gateway: ConsoleGateway) -> Waiting:
    tenant_id, key = new_tenant(platform, "Browser shop")
    with ThreadPoolExecutor(max_workers=1) as thread:  # `seed` runs its own event loop
        demo = thread.submit(seed, platform.settings, tenant_id).result()
    api = httpx.Client(base_url=console_gateway.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    cid = conversation(api, "orders", demo.ada_id)
    mid, frames = turn(api, cid, plan(call("orders.place", items=[{"sku": "SKU-HOODIE", "quantity": 2}])))
    assert answer(frames, mid) == "done: orders.place=ok"
    sql = "SELECT id FROM orders WHERE customer_id = :c AND total_cents = 11000 ORDER BY created_at DESC LIMIT 1"
    with ThreadPoolExecutor(max_workers=1) as thread:
        order_id = str(thread.submit(rows, platform.settings, tenant_id, sql, c=demo.ada_id).result()[0]["id"])
    asked = send(api, cid, plan(call("orders.refund", order_id=order_id, amount_cents=10_500, reason="damaged")))
    requested = events_of(
        read_frames(
            api,
            cid,
            lambda fs: any(f.event == "approval.requested" and (f.data or {}).get("message_id") == asked for f in fs),
            timeout=90,
        )
    )
    approval_id = of(requested, "approval.requested", message_id=asked)[0]["approval_id"]
    return Waiting(key=key, conversation_id=cid, approval_id=approval_id)


def test_approve_a_refund_from_the_inbox_and_see_the_saga_finish(
    page: Page, console_gateway: ConsoleGateway, waiting_refund: Waiting
) -> None:
    sign_in(page, console_gateway, waiting_refund.key, "/console/approvals")
    row = page.locator(f"tr[data-approval='{waiting_refund.approval_id}']")
    expect(row).to_contain_text("orders.refund")
    shot(page, "inbox-waiting")
    row.locator("button.approve").click()
    expect(page.locator("#inbox-empty")).to_be_visible()
    page.goto(f"{console_gateway.url}/console/conversations/{waiting_refund.conversation_id}")
    expect(page.locator("#live-answer")).to_have_text("done: orders.refund=ok", timeout=90_000)
    page.reload()
    expect(page.locator("#approvals .approval-status")).to_contain_text("approved")
    expect(page.locator("#tool-calls")).to_contain_text("orders.refund")
    shot(page, "refund-approved")
