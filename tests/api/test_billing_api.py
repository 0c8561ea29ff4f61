"""`/v1/subscription` and `/v1/invoices` on the running platform (real worker, Temporal, Postgres): reads,
validated plan changes with their proration quote, refusals as 409/422, the HTML invoice, the payment
status, and another tenant's key on every id of this one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.client import Client

from activities.billing import BillingActivities
from billing.payments import SandboxProcessor
from billing.starter import initial_state, start_subscription
from contracts.billing import PM_SANDBOX_OK, ClosePeriodInput
from core.redis_clients import command_client
from db.database import Database
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform


@pytest.fixture
def billed(platform: Platform) -> Iterator[tuple[httpx.Client, str]]:
    """A tenant of its own (plan changes must not touch the shared ones) with a running subscription."""
    tenant_id, key = create_test_tenant(platform.settings, "Billing")

    async def start() -> None:
        client = await Client.connect(platform.settings.temporal_address)
        now = datetime.now(UTC)
        state = initial_state(tenant_id, "pro", now=now, payment_method=PM_SANDBOX_OK)
        await start_subscription(client, platform.settings.task_queue, state)

    asyncio.run(start())
    with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0) as api:
        yield api, tenant_id

    async def stop() -> None:
        client = await Client.connect(platform.settings.temporal_address)
        await client.get_workflow_handle(f"{tenant_id}:subscription").terminate("test over")

    asyncio.run(stop())


def _close_a_past_period(platform: Platform, tenant_id: str) -> None:
    async def close() -> None:
        db = Database(platform.settings.resolved_app_database_url(), pool_size=2)
        redis = command_client(platform.settings)
        end = datetime.now(UTC) - timedelta(days=40)
        try:
            await BillingActivities(db, redis, SandboxProcessor(db)).close_period(
                ClosePeriodInput(
                    tenant_id=tenant_id,
                    start_plan="pro",
                    plan="pro",
                    period_start=end - timedelta(days=30),
                    period_end=end,
                    tax_rate="0.19",
                    credit_cents=0,
                )
            )
        finally:
            await db.close()
            await redis.aclose()

    asyncio.run(close())


def _eventually(api: httpx.Client, path: str, check: object) -> httpx.Response:
    for _ in range(100):
        response = api.get(path)
        if response.status_code == 200 and check(response.json()):  # type: ignore[operator]
            return response
        asyncio.run(asyncio.sleep(0.1))
    raise AssertionError(f"{path} never matched: {response.text}")


def test_subscription_changes_and_refusals(billed: tuple[httpx.Client, str]) -> None:
    api, _ = billed
    _eventually(api, "/v1/subscription", lambda s: s["plan"] == "pro" and s["status"] == "active")
    up = api.patch("/v1/subscription", json={"plan": "enterprise"})
    assert up.status_code == 200, up.text
    assert up.json()["subscription"]["plan"] == "enterprise"
    # Almost the whole period left: nearly the full fee difference (99900 - 4900 cents).
    assert 94_000 < up.json()["proration_cents"] <= 95_000
    later = api.patch("/v1/subscription", json={"plan": "pro", "timing": "period_end"})
    assert later.status_code == 200 and later.json()["subscription"]["pending_plan"] == "pro"
    refused = api.patch("/v1/subscription", json={"plan": "enterprise"})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "conflict"
    assert "already" in refused.json()["error"]["message"]
    for body in ({}, {"plan": "gold"}, {"payment_method": "4242 4242"}, {"plan": "pro", "extra": 1}):
        bad = api.patch("/v1/subscription", json=body)
        assert bad.status_code == 422, (body, bad.text)
    cancel = api.patch("/v1/subscription", json={"cancel_at_period_end": True})
    assert cancel.status_code == 200 and cancel.json()["subscription"]["cancel_at_period_end"] is True
    _eventually(api, "/v1/subscription", lambda s: s["cancel_at_period_end"] is True)


def test_invoices_html_payments_and_tenant_b(
    billed: tuple[httpx.Client, str], platform: Platform, api_b: httpx.Client
) -> None:
    api, tenant_id = billed
    _close_a_past_period(platform, tenant_id)
    listed = api.get("/v1/invoices").json()["items"]
    assert [i["number"] for i in listed] == ["000001"]
    invoice = listed[0]
    assert invoice["total_cents"] == 4900 + round(4900 * 0.19) and invoice["status"] == "open"
    assert api.get(f"/v1/invoices/{invoice['id']}").json() == invoice
    page = api.get(f"/v1/invoices/{invoice['id']}/html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Invoice 000001" in page.text and "$58.31" in page.text
    pdf = api.get(f"/v1/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"000001" in pdf.content
    payments = api.get(f"/v1/invoices/{invoice['id']}/payments").json()
    assert payments == {"invoice_id": invoice["id"], "status": "open", "paid_at": None, "payments": []}
    assert api.get(f"/v1/invoices/{uuid.uuid4()}").status_code == 404
    assert api.get("/v1/invoices/not-a-uuid").status_code == 422

    for path in ("", "/html", "/pdf", "/payments"):
        assert api_b.get(f"/v1/invoices/{invoice['id']}{path}").status_code == 404
    assert invoice["id"] not in [i["id"] for i in api_b.get("/v1/invoices").json()["items"]]
    assert api_b.get("/v1/subscription").status_code == 404
    assert api_b.patch("/v1/subscription", json={"plan": "free"}).status_code == 404
