"""`TenantLifecycleWorkflow` scenarios: a tenant offboarded to the end, and offboarding a tenant that does not
exist.

The purge shreds the tenant's data keys, so the recorder stores each scenario's histories as soon as it has
run, while the worker's keyring still holds them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import WorkflowFailureError, WorkflowHandle

from tests.workflows.scenarios import Recording
from tests.workflows.tenant_lifecycle.workflows import start_idle_conversation, start_lifecycle


async def offboard(rec: Recording) -> list[WorkflowHandle]:
    """A tenant with an idle conversation: stopped, exported and purged after a two-second retention."""
    tenant_id = await rec.new_tenant("offboard")
    await start_idle_conversation(rec.client, rec.db, rec.queue, tenant_id)
    handle = await start_lifecycle(rec.client, rec.queue, tenant_id, timedelta(seconds=2))
    await handle.result()
    return [handle]


async def unknown_tenant(rec: Recording) -> list[WorkflowHandle]:
    handle = await start_lifecycle(rec.client, rec.queue, str(uuid.uuid4()), timedelta(0))
    try:
        await handle.result()
    except WorkflowFailureError:
        return [handle]
    raise AssertionError("offboarding a tenant that does not exist succeeded")
