"""Record workflow histories from real runs into `tests/histories/` for the replay tests (`just replay`).

Each scenario runs on a real stack (the launcher's, or the one `TEMPORAL_ADDRESS`/`DATABASE_URL`/
`REDIS_URL` name) with an in-process worker, then its history is written as JSON. Re-record whenever a
workflow changes on purpose; a replay failure without such a change is a determinism bug.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from core.crypto import decode_history
from core.settings import Settings
from core.stack.stack import throwaway_stack
from core.worker import build_worker
from tenancy.db import Database, run_sql
from tenancy.migrate import migrate
from tenancy.tenants import create_tenant
from workflows.conversation import ConversationWorkflow
from workflows.conversation_types import ConversationInput, DoubleTexting, SubmitMessage, conversation_workflow_id

HISTORIES = Path(__file__).parent / "histories"
AGENT_MODELS = {"slowpoke": "scripted/slow-echo", "broken": "scripted/error-400", "flaky": "scripted/flaky-echo"}

Scenario = Callable[[Client, Database, str, str], Awaitable[list[WorkflowHandle]]]


async def _conversation(db: Database, tenant_id: str, agent: str = "support") -> str:
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            (
                "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                " created_at, updated_at)"
                " VALUES (:id, :tid, :agent, 'api', '{}'::jsonb, 'enqueue', 'open', now(), now())"
            ),
            {"id": conversation_id, "tid": tenant_id, "agent": agent},
        )
    return conversation_id


async def _start(client: Client, queue: str, inp: ConversationInput) -> WorkflowHandle:
    return await client.start_workflow(
        ConversationWorkflow.run,
        inp,
        id=conversation_workflow_id(inp.tenant_id, inp.conversation_id),
        task_queue=queue,
    )


async def _send(handle: WorkflowHandle, content: str) -> None:
    await handle.execute_update(
        ConversationWorkflow.submit_message, SubmitMessage(message_id=str(uuid.uuid4()), content=content)
    )


async def _idle(handle: WorkflowHandle) -> None:
    for _ in range(300):
        state = await handle.query(ConversationWorkflow.state)
        if state.current_message_id is None and not state.pending_message_ids:
            return
        await asyncio.sleep(0.1)


async def enqueue_and_close(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    cid = await _conversation(db, tenant)
    handle = await _start(
        client, queue, ConversationInput(tenant_id=tenant, conversation_id=cid, idle_timeout_seconds=2)
    )
    await _send(handle, "first question")
    await _send(handle, "second question")
    await handle.result()
    return [handle]


async def interrupt(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    cid = await _conversation(db, tenant, "slowpoke")
    inp = ConversationInput(
        tenant_id=tenant,
        conversation_id=cid,
        agent="slowpoke",
        double_texting=DoubleTexting.INTERRUPT,
        idle_timeout_seconds=2,
    )
    handle = await _start(client, queue, inp)
    await _send(handle, "a long question with many words to stream slowly")
    await asyncio.sleep(1.2)
    await _send(handle, "never mind")
    await handle.result()
    return [handle]


async def model_failures(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    handles = []
    for agent in ("broken", "flaky"):
        cid = await _conversation(db, tenant, agent)
        inp = ConversationInput(tenant_id=tenant, conversation_id=cid, agent=agent, idle_timeout_seconds=2)
        handle = await _start(client, queue, inp)
        await _send(handle, "hello")
        await handle.result()
        handles.append(handle)
    return handles


async def continue_as_new(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    cid = await _conversation(db, tenant)
    inp = ConversationInput(tenant_id=tenant, conversation_id=cid, max_turns_per_run=1, idle_timeout_seconds=2)
    handle = await _start(client, queue, inp)
    first_run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)
    await _send(handle, "one")
    await _idle(handle)
    # The second run starts from what the first carried over, then continues-as-new again.
    second_run = client.get_workflow_handle(
        handle.id, run_id=(await client.get_workflow_handle(handle.id).describe()).run_id
    )
    await _send(handle, "two")
    await handle.result()
    return [first_run, second_run, client.get_workflow_handle(handle.id)]


SCENARIOS: dict[str, Scenario] = {
    "conversation_enqueue_and_close": enqueue_and_close,
    "conversation_interrupt": interrupt,
    "conversation_model_failures": model_failures,
    "conversation_continue_as_new": continue_as_new,
}


async def record(settings: Settings) -> list[Path]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    tenant = await create_tenant(settings.database_url or "", name=f"replay {uuid.uuid4().hex[:6]}", pepper="x" * 16)
    queue = f"record-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(
        update={"agent_models": json.dumps(AGENT_MODELS), "task_queue": queue, "model_small": "scripted/echo"}
    )
    db = Database(settings.resolved_app_database_url())
    written: list[Path] = []
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            for name, scenario in SCENARIOS.items():
                handles = await scenario(deps.client, db, tenant.tenant_id, queue)
                for i, handle in enumerate(handles):
                    # Stored decoded: synthetic data only, and replay needs no keys.
                    history = await decode_history(
                        await handle.fetch_history(), deps.client.data_converter.payload_codec
                    )
                    path = HISTORIES / f"{name}{'_' + str(i) if len(handles) > 1 else ''}.json"
                    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                    written.append(path)
                    print(f"recorded {path.relative_to(HISTORIES.parent.parent)}")
    finally:
        await db.close()
    return written


def main() -> int:
    HISTORIES.mkdir(exist_ok=True)
    base = Settings()
    if base.temporal_address and base.database_url and base.redis_url:
        asyncio.run(record(base))
        return 0
    with throwaway_stack("aiaas-record-") as settings:
        asyncio.run(record(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
