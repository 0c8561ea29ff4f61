"""`DrDrillWorkflow` scenario: a conversation on the platform, then a drill that backs it all up and restores it."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowHandle

from contracts.dr import DR_WORKFLOW_ID_PREFIX, DrDrillInput, DrDrillReport
from contracts.names import WF_DR_DRILL
from tests.workflows.scenarios import Recording, conversations


async def drill(rec: Recording) -> list[WorkflowHandle]:
    await conversations.enqueue_and_close(rec)
    handle = await rec.client.start_workflow(
        WF_DR_DRILL,
        DrDrillInput(),
        id=f"{DR_WORKFLOW_ID_PREFIX}-record-{uuid.uuid4().hex[:8]}",
        task_queue=rec.queue,
        result_type=DrDrillReport,
    )
    report = await handle.result()
    assert report.verified, report
    return [handle]


async def drill_regions(rec: Recording) -> list[WorkflowHandle]:
    """A drill over the control plane and every configured region (the `dr-regions` path): one database
    report per scope."""
    handle = await rec.client.start_workflow(
        WF_DR_DRILL,
        DrDrillInput(),
        id=f"{DR_WORKFLOW_ID_PREFIX}-record-regions-{uuid.uuid4().hex[:8]}",
        task_queue=rec.queue,
        result_type=DrDrillReport,
    )
    report = await handle.result()
    assert report.verified, report
    assert {d.scope for d in report.databases} == {"global", *rec.settings.region_database_urls}, report
    return [handle]


async def drill_servers(rec: Recording) -> list[WorkflowHandle]:
    """The regional drill with a region on a Postgres server of its own (`tests.workflows.record_dr_servers`):
    two servers backed up and restored side by side."""
    [handle] = await drill_regions(rec)
    report = await handle.result()
    servers = {d.server for d in report.databases}
    assert len(servers) >= 2, report
    return [handle]
