"""Existing tenants get their subscription: `aiaas admin subscribe` on the running platform (real CLI process,
worker, Temporal, Postgres), safe to repeat, with clear refusals; and `--all`'s sweep on its own test server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from billing.subscribe import subscribe_all
from contracts.billing import subscription_workflow_id
from core.settings import Settings
from db.database import Database
from tests.billing.conftest import new_tenant
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform


def _cli(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "admin", "subscribe", *args],
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_admin_subscribe_starts_one_subscription_per_tenant(platform: Platform) -> None:
    tenant_id, key = create_test_tenant(platform.settings, "Subscribe", plan="enterprise")
    first = _cli(platform, tenant_id, "--payment-method", "pm_card_visa")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [tenant_id, "enterprise", "started"]
    try:
        with httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {key}"}) as api:
            for _ in range(100):
                response = api.get("/v1/subscription")
                if response.status_code == 200:
                    break
                time.sleep(0.1)
            assert response.status_code == 200, response.text
            assert (response.json()["plan"], response.json()["status"]) == ("enterprise", "active")
        again = _cli(platform, tenant_id, "--plan", "pro")
        assert again.returncode == 0 and again.stdout.split()[-3:] == ["had", "one", "already"]
    finally:

        async def stop() -> None:
            client = await Client.connect(platform.settings.temporal_address or "")
            await client.get_workflow_handle(subscription_workflow_id(tenant_id)).terminate("test over")

        asyncio.run(stop())

    unknown = _cli(platform, str(uuid.uuid4()))
    assert unknown.returncode == 2 and "no tenant" in unknown.stderr
    bad_plan = _cli(platform, tenant_id, "--plan", "platinum")
    assert bad_plan.returncode == 2 and "unknown plan" in bad_plan.stderr
    both = _cli(platform, tenant_id, "--all")
    assert both.returncode == 2 and "not both" in both.stderr


async def test_subscribe_all_covers_every_active_tenant_once(
    skipping_env: WorkflowEnvironment, db: Database, migrated: Settings
) -> None:
    mine = [await new_tenant(db, migrated, plan) for plan in ("free", "pro")]
    queue = f"sweep-{uuid.uuid4().hex[:6]}"  # no worker: the runs only need to exist
    swept = {s.tenant_id: s for s in await subscribe_all(skipping_env.client, db, queue)}
    assert [(swept[t].plan, swept[t].started) for t in mine] == [("free", True), ("pro", True)]
    for tenant_id in mine:
        described = await skipping_env.client.get_workflow_handle(subscription_workflow_id(tenant_id)).describe()
        assert described.status == WorkflowExecutionStatus.RUNNING
    again = {s.tenant_id: s.started for s in await subscribe_all(skipping_env.client, db, queue)}
    assert not any(again.values()), "a second sweep starts nothing"
