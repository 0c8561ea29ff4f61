"""Each offboarding step, run twice on the real stack, as a retried activity would be: the second run repeats
nothing that matters and reports what the first did."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tenant_lifecycle import TenantLifecycleActivities
from contracts.lifecycle import (
    ExportInput,
    MarkOffboardingInput,
    PurgeDatabaseInput,
    PurgeRedisInput,
    StopWorkflowsInput,
    lifecycle_workflow_id,
)
from core.events import stream_key
from db.database import Database
from tenancy.audit import PLATFORM_CHAIN
from tenancy.audit_read import list_events
from tests.workflows.tenant_lifecycle.clients import NewTenant
from tests.workflows.tenant_lifecycle.workflows import start_idle_conversation


@pytest.fixture
async def steps(
    app_database: Database, redis: Redis, temporal: Client, tmp_path: Path
) -> AsyncIterator[TenantLifecycleActivities]:
    yield TenantLifecycleActivities(app_database, redis, temporal, tmp_path / "exports")


async def test_each_step_twice(
    steps: TenantLifecycleActivities,
    new_tenant: NewTenant,
    app_database: Database,
    redis: Redis,
    temporal: Client,
    tmp_path: Path,
    tenant_b: tuple[str, str],
) -> None:
    tid, run = new_tenant.id, ActivityEnvironment().run
    first = await run(
        steps.mark_offboarding, MarkOffboardingInput(tenant_id=tid, retention=timedelta(hours=1), actor="t")
    )
    again = await run(
        steps.mark_offboarding, MarkOffboardingInput(tenant_id=tid, retention=timedelta(days=9), actor="t")
    )
    assert again == first  # the deadline set first stands

    # No worker polls this queue, so the conversation stays running until offboarding stops it.
    conversation = await start_idle_conversation(temporal, app_database, f"idle-{uuid.uuid4().hex[:6]}", tid)
    stop = StopWorkflowsInput(tenant_id=tid, exclude_workflow_id=lifecycle_workflow_id(tid), reason="tests")
    assert (await run(steps.stop_workflows, stop)).stopped == 1
    assert (await run(steps.stop_workflows, stop)).stopped == 0
    assert (await conversation.describe()).status == WorkflowExecutionStatus.TERMINATED

    # A crashed attempt leaves a half-written draft; the next one starts over and publishes a whole export.
    draft = tmp_path / "exports" / tid / ".run-1.partial"
    draft.mkdir(parents=True)
    (draft / "junk.jsonl.gz").write_bytes(b"half")
    exported = await run(steps.export_data, ExportInput(tenant_id=tid, export_id="run-1"))
    assert not draft.exists() and "junk.jsonl.gz" not in {p.name for p in Path(exported.path).iterdir()}
    assert await run(steps.export_data, ExportInput(tenant_id=tid, export_id="run-1")) == exported
    assert exported.rows["public.conversations"] == 1 and exported.rows["public.tenants"] == 1

    ours, theirs = stream_key(tid, "c1"), stream_key(tenant_b[0], "c1")
    for key in (ours, theirs):
        await redis.xadd(key, {"type": "token", "data": "{}"})
    await redis.set(f"aiaas:evdedup:{{{tid}:c1}}:m1", "1")
    assert (await run(steps.purge_redis, PurgeRedisInput(tenant_id=tid))).keys_deleted == 2
    assert (await run(steps.purge_redis, PurgeRedisInput(tenant_id=tid))).keys_deleted == 0
    assert await redis.exists(theirs) == 1
    await redis.delete(theirs)

    purge = PurgeDatabaseInput(tenant_id=tid, actor="t", export_path=exported.path, redis_keys=2)
    purged = await run(steps.purge_database, purge)
    repeated = await run(steps.purge_database, purge)
    assert not purged.repeated and repeated.repeated and repeated.rows == purged.rows
    assert purged.rows["public.conversations"] == 1 and purged.rows["public.tenants"] == 1
    assert purged.rows["audit.events"] >= 2
    async with app_database.tenant_session(PLATFORM_CHAIN) as session:
        outcomes = [
            e for e in await list_events(session, PLATFORM_CHAIN, action="tenant.purged", limit=200) if e.target == tid
        ]
    assert len(outcomes) == 1 and outcomes[0].details["rows"] == purged.rows


async def test_steps_refuse_what_is_no_tenant(steps: TenantLifecycleActivities) -> None:
    run = ActivityEnvironment().run
    for bad in ("not-a-uuid", "'; DROP TABLE tenants; --", str(uuid.uuid4())):
        with pytest.raises(ApplicationError) as refused:
            await run(steps.mark_offboarding, MarkOffboardingInput(tenant_id=bad, retention=timedelta(0), actor="t"))
        assert refused.value.type == "TenantNotFound" and refused.value.non_retryable


async def test_an_active_tenant_is_not_purged(steps: TenantLifecycleActivities, new_tenant: NewTenant) -> None:
    purge = PurgeDatabaseInput(tenant_id=new_tenant.id, actor="t", export_path="/nowhere")
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(steps.purge_database, purge)
    assert refused.value.type == "TenantNotOffboarding"
