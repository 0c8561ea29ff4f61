"""`CanaryWorkflow` on the platform's own worker (`app.worker.build_worker`), over turns seeded in both arms.

A canary no worse than its control is promoted (its model becomes the tenant's small-tier model, the router's
canary ends, audited, `canary.promoted` announced); one that fails more often is rolled back; one whose tenant
asked for approval waits for it durably and promotes on `approve`; `abort` rolls back at any time. Another
tenant's settings and events never change.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from contracts.canary import CanaryAbort, CanaryApproval, CanaryInput, CanaryResult, CanaryRule, CanaryStatus
from contracts.events import EventType
from contracts.names import WF_ROUTER_CANARY
from core.events import EventBus
from db.database import Database
from router import canary_store, settings_store
from router.canary_store import StoredCanary
from tenancy.tenants import create_tenant
from tests.router.canary_seed import open_canary, seed_arms
from tests.router.conftest import Running

pytestmark = pytest.mark.timeout(180)

# Lenient margins, so a few hundred seeded turns decide (production's defaults need thousands).
LENIENT = CanaryRule(min_turns=150, max_error_increase=0.1, max_latency_increase=0.5, max_cost_increase=0.5)
# The check interval of these runs; the timers are the workflow's own, whatever their length.
EVERY = timedelta(seconds=1)


async def _tenant(running: Running) -> str:
    settings = running.settings
    created = await create_tenant(
        settings.database_url or "",
        name=f"Canary {uuid.uuid4().hex[:6]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id


async def _start(running: Running, canary: StoredCanary, **kw: object) -> WorkflowHandle:
    inp = CanaryInput(tenant_id=canary.tenant_id, canary_id=canary.id, check_every=EVERY, **kw)  # type: ignore[arg-type]
    return await running.temporal.start_workflow(
        WF_ROUTER_CANARY, inp, id=canary.workflow_id, task_queue=running.queue, result_type=CanaryResult
    )


async def _stored(db: Database, canary: StoredCanary) -> StoredCanary:
    async with db.tenant_session(canary.tenant_id) as session:
        found = await canary_store.get(session, canary.tenant_id, canary.id)
    assert found is not None
    return found


async def _audit(db: Database, tenant_id: str) -> list[str]:
    async with db.tenant_session(tenant_id) as session:
        rows = await (await session.connection()).execute(
            text("SELECT action FROM audit.events WHERE tenant_id = :t AND action LIKE 'router.canary%' ORDER BY seq"),
            {"t": tenant_id},
        )
        return [r.action for r in rows]


async def test_a_canary_no_worse_than_its_control_is_promoted(
    running: Running, app_database: Database, events: EventBus
) -> None:
    tenant, other = await _tenant(running), await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200)
    handle = await _start(running, canary)
    result = await handle.result()
    assert result.status == CanaryStatus.PROMOTED and result.checks == 1, result

    routing = await settings_store.load(app_database, tenant)
    assert routing.settings.tier_model("small") == "scripted/agent"
    assert routing.settings.canary_model is None and routing.settings.canary_share == 0
    stored = await _stored(app_database, canary)
    assert stored.status == CanaryStatus.PROMOTED and stored.finished_at is not None and stored.checks == 1
    assert stored.last_check is not None and stored.last_check["canary_turns"] == 200
    assert {m["metric"] for m in stored.last_check["metrics"]} == {"error_rate", "latency", "cost"}
    assert await _audit(app_database, tenant) == ["router.canary_promoted"]
    published = [e.type for e in await events.history(tenant, "_operations")]
    assert published.count(EventType.CANARY_PROMOTED) == 1
    # Nothing of it reached another tenant.
    assert (await settings_store.load(app_database, other)).settings.tier_models == ()
    assert await events.history(other, "_operations") == []


async def test_a_canary_that_fails_more_is_rolled_back(
    running: Running, app_database: Database, events: EventBus
) -> None:
    tenant = await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT)
    async with app_database.tenant_session(tenant) as session:
        await settings_store.set_canary(session, tenant, canary.model, canary.share)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200, canary_failures=0.4)
    result = await (await _start(running, canary, begun=True)).result()
    assert result.status == CanaryStatus.ROLLED_BACK and "error_rate" in result.reason, result
    routing = await settings_store.load(app_database, tenant)
    assert routing.settings.canary_model is None and routing.settings.tier_models == ()
    assert [e.type for e in await events.history(tenant, "_operations")] == [EventType.CANARY_ROLLED_BACK]
    assert await _audit(app_database, tenant) == ["router.canary_rolled_back"]


async def test_a_promotion_waits_for_its_approval(running: Running, app_database: Database) -> None:
    tenant = await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT, require_approval=True)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200)
    handle = await _start(running, canary, require_approval=True)
    async with asyncio.timeout(60):
        while (await _stored(app_database, canary)).status != CanaryStatus.AWAITING_APPROVAL:
            await asyncio.sleep(0.2)
    # Waiting: nothing promoted yet, and further looks are not taken.
    assert (await settings_store.load(app_database, tenant)).settings.tier_models == ()
    assert await handle.query("status") == "awaiting_approval"
    assert await handle.execute_update("approve", CanaryApproval(actor="owner-1"), result_type=str) == "promoted"
    result = await handle.result()
    assert result.status == CanaryStatus.PROMOTED and result.reason.startswith("approved")
    stored = await _stored(app_database, canary)
    assert stored.decided_by == "owner-1"
    assert (await settings_store.load(app_database, tenant)).settings.tier_model("small") == "scripted/agent"


async def test_abort_rolls_back_a_canary_still_collecting(running: Running, app_database: Database) -> None:
    tenant = await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT)
    handle = await _start(running, canary)
    async with asyncio.timeout(60):
        while (await _stored(app_database, canary)).checks < 1:
            await asyncio.sleep(0.2)
    assert (await settings_store.load(app_database, tenant)).settings.canary_model == "scripted/agent"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("approve", CanaryApproval(), result_type=str)
    assert "not awaiting approval" in str(refused.value.cause)
    reason = f"owner changed their mind {uuid.uuid4().hex[:4]}"
    assert await handle.execute_update("abort", CanaryAbort(actor="owner-2", reason=reason), result_type=str) == (
        "rolled_back"
    )
    result = await handle.result()
    assert result.status == CanaryStatus.ROLLED_BACK and result.reason == reason
    stored = await _stored(app_database, canary)
    assert stored.decided_by == "owner-2" and stored.last_check is not None
    assert stored.last_check["decision"] == "continue"
    assert (await settings_store.load(app_database, tenant)).settings.canary_model is None


async def test_an_unapproved_promotion_rolls_back_when_its_wait_runs_out(
    running: Running, app_database: Database, events: EventBus
) -> None:
    tenant = await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT, require_approval=True)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200)
    # A test about the approval's timeout: two seconds instead of days.
    handle = await _start(running, canary, require_approval=True, approval_timeout=timedelta(seconds=2))
    result = await handle.result()
    assert result.status == CanaryStatus.ROLLED_BACK and result.reason == "promotion not approved in time"
    assert (await settings_store.load(app_database, tenant)).settings.tier_models == ()
    assert [e.type for e in await events.history(tenant, "_operations")] == [EventType.CANARY_ROLLED_BACK]
