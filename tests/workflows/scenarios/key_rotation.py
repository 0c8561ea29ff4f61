"""`KeyRotationWorkflow` scenario: a tenant with five messages still in clear (written before sealing), sealed
by a rotation in batches of two, so the history holds the rotation, the settle timer, the re-encryption slice
and the retirement."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowHandle

from contracts.key_rotation import KeyRotationInput, KeyRotationProgress, rotation_workflow_id
from contracts.names import WF_KEY_ROTATION
from tests.workflows.scenarios import Recording
from tests.workflows.scenarios.privacy import _conversation


async def rotation(rec: Recording) -> list[WorkflowHandle]:
    tenant_id = await rec.new_tenant("rotation")
    await _conversation(rec, tenant_id, None, 0, 5)
    handle = await rec.client.start_workflow(
        WF_KEY_ROTATION,
        KeyRotationInput(tenant_id=tenant_id, actor="recorder", settle_seconds=1, batch_size=2),
        id=rotation_workflow_id(tenant_id) + f":record-{uuid.uuid4().hex[:6]}",
        task_queue=rec.queue,
        result_type=KeyRotationProgress,
    )
    result = await handle.result()
    assert result.phase == "completed" and result.messages == 5, result
    return [handle]
