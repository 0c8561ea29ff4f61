"""Record `TenantLifecycleWorkflow` histories into `tests/workflows/histories/` for the replay tests.

    python -m tests.workflows.tenant_lifecycle.record_histories

Runs on a real stack (the one `TEMPORAL_ADDRESS`/`DATABASE_URL`/`REDIS_URL` name, or an embedded one of its
own) with an in-process worker, as `tests/workflows/record_histories.py` does for conversations. Histories are stored
decoded. The tenant's data keys are shredded by the purge, so each history is decoded at once, while the
worker's keyring still holds them. Re-record whenever the workflow changes on purpose.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from app.worker import build_worker
from core.settings import Settings
from db.database import Database
from db.migrate import migrate
from tenancy.tenants import create_tenant
from tests.workflows.history_files import run_recorder, store_history
from tests.workflows.tenant_lifecycle.workflows import start_idle_conversation, start_lifecycle

Scenario = Callable[[Client, Database, Settings, str], Awaitable[WorkflowHandle]]


async def offboard(client: Client, db: Database, settings: Settings, queue: str) -> WorkflowHandle:
    tenant = await create_tenant(settings.database_url or "", name=f"offboard {uuid.uuid4().hex[:6]}", pepper="x" * 16)
    await start_idle_conversation(client, db, queue, tenant.tenant_id)
    handle = await start_lifecycle(client, queue, tenant.tenant_id, timedelta(seconds=2))
    await handle.result()
    return handle


async def unknown_tenant(client: Client, db: Database, settings: Settings, queue: str) -> WorkflowHandle:
    handle = await start_lifecycle(client, queue, str(uuid.uuid4()), timedelta(0))
    try:
        await handle.result()
    except WorkflowFailureError:
        return handle
    raise AssertionError("offboarding a tenant that does not exist succeeded")


SCENARIOS: dict[str, Scenario] = {
    "tenant_lifecycle_offboard": offboard,
    "tenant_lifecycle_unknown_tenant": unknown_tenant,
}


async def record(settings: Settings) -> list[Path]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    queue = f"record-lifecycle-{uuid.uuid4().hex[:6]}"
    db = Database(settings.resolved_app_database_url())
    written: list[Path] = []
    try:
        worker_settings = settings.model_copy(update={"task_queue": queue})
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            for name, scenario in SCENARIOS.items():
                handle = await scenario(deps.client, db, settings, queue)
                written.append(await store_history(name, handle, deps.client.data_converter.payload_codec))
    finally:
        await db.close()
    return written


def main() -> int:
    return run_recorder(record, env="test")


if __name__ == "__main__":
    sys.exit(main())
