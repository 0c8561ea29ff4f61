"""`NightlyDriftWorkflow` scenario: one night analysed for every active tenant, one of them drifting."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowHandle

from contracts.drift import NightlyDriftInput, NightlyDriftResult
from contracts.names import WF_NIGHTLY_DRIFT
from tests.policies.drift.seed import NIGHT, seed_turns
from tests.workflows.scenarios import Recording


async def nightly(rec: Recording) -> list[WorkflowHandle]:
    """Two tenants with seeded turns (one with a price change on the night), analysed two at a time."""
    drifting = await rec.new_tenant("drifting")
    steady = await rec.new_tenant("steady")
    await seed_turns(rec.db, drifting, price_factor=1.5, seed=1)
    await seed_turns(rec.db, steady, price_factor=1.0, seed=2)
    handle = await rec.client.start_workflow(
        WF_NIGHTLY_DRIFT,
        NightlyDriftInput(night=NIGHT, concurrency=2),
        id=f"platform:drift:record-{uuid.uuid4().hex[:8]}",
        task_queue=rec.queue,
        result_type=NightlyDriftResult,
    )
    result = await handle.result()
    assert result.detected >= 1 and not result.failed, result
    return [handle]
