"""Record workflow histories from real runs into `tests/workflows/histories/` for the replay tests (`just replay`).

Each scenario runs on a real stack (the launcher's, or the one `TEMPORAL_ADDRESS`/`DATABASE_URL`/
`REDIS_URL` name) with an in-process worker, then its history is written as JSON. Re-record whenever a
workflow changes on purpose; a replay failure without such a change is a determinism bug. Name scenarios
on the command line to record only those (`python -m tests.record_histories conversation_loop_cut`).

`conversation_pre_agent_loop_*.json` are not scenarios: they were recorded before the agent loop existed
and stay as they are, so the `agent-loop` patch keeps proving that runs from then still replay.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from app.worker import build_worker
from commerce.demo import seed_demo
from contracts.agents import ApprovalDecision, ApprovalDecisionKind
from contracts.conversation import ConversationInput, DoubleTexting, SubmitMessage, conversation_workflow_id
from core.settings import Settings
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant
from tests.e2e.platform import AGENT_MODELS
from tests.workflows.history_files import run_recorder, store_history
from workflows.conversation import ConversationWorkflow

Scenario = Callable[[Client, Database, str, str], Awaitable[list[WorkflowHandle]]]


async def _conversation(db: Database, tenant_id: str, agent: str = "support", customer_id: str | None = None) -> str:
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            (
                "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                " customer_id, created_at, updated_at)"
                " VALUES (:id, :tid, :agent, 'api', '{}'::jsonb, 'enqueue', 'open', :customer, now(), now())"
            ),
            {"id": conversation_id, "tid": tenant_id, "agent": agent, "customer": customer_id},
        )
    return conversation_id


def _plan(*items: dict[str, Any]) -> str:
    return "PLAN: " + json.dumps(list(items))


async def _agent_conversation(client: Client, db: Database, tenant: str, queue: str, agent: str) -> WorkflowHandle:
    """A conversation of the demo shop's customer Ada with `agent` (a scripted tool-calling model)."""
    demo = await seed_demo(db, tenant)
    cid = await _conversation(db, tenant, agent, demo.ada_id)
    inp = ConversationInput(
        tenant_id=tenant, conversation_id=cid, agent=agent, customer_id=demo.ada_id, idle_timeout_seconds=2
    )
    return await _start(client, queue, inp)


async def _start(client: Client, queue: str, inp: ConversationInput) -> WorkflowHandle:
    return await client.start_workflow(
        ConversationWorkflow.run,
        inp,
        id=conversation_workflow_id(inp.tenant_id, inp.conversation_id),
        task_queue=queue,
    )


async def _send(handle: WorkflowHandle, content: str) -> None:
    _ = await handle.execute_update(
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


async def tool_turn(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    """Support hands over to orders, which looks an order up and answers from it."""
    demo = await seed_demo(db, tenant)
    handle = await _agent_conversation(client, db, tenant, queue, "support")
    handoff = {"tool": "agents.handoff", "args": {"target": "orders", "reason": "order question"}}
    lookup = {"tool": "orders.lookup", "args": {"order_id": demo.ada_placed_order_id}}
    await _send(handle, _plan(handoff, lookup))
    await handle.result()
    return [handle]


async def approval(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    """An order placed (a saga), then a refund above the approval threshold, approved by a person."""
    handle = await _agent_conversation(client, db, tenant, queue, "orders")
    await _send(handle, _plan({"tool": "orders.place", "args": {"items": [{"sku": "SKU-HOODIE", "quantity": 2}]}}))
    await _idle(handle)
    async with db.tenant_session(tenant) as session:
        placed = await run_sql(
            session,
            "SELECT DISTINCT output->>'order_id' FROM tool_calls WHERE tool = 'orders.place' AND conversation_id = :c",
            {"c": handle.id.rsplit(":", 1)[-1]},
        )
        order_id = placed.scalar_one()
    refund = {"tool": "orders.refund", "args": {"order_id": order_id, "amount_cents": 10_500, "reason": "damaged"}}
    await _send(handle, _plan(refund))
    for _ in range(300):
        state = await handle.query(ConversationWorkflow.state)
        if state.pending_approvals:
            break
        await asyncio.sleep(0.1)
    _ = await handle.execute_update(
        ConversationWorkflow.decide_approval,
        ApprovalDecision(approval_id=state.pending_approvals[0], decision=ApprovalDecisionKind.APPROVE, decided_by="x"),
    )
    await handle.result()
    return [handle]


async def loop_cut(client: Client, db: Database, tenant: str, queue: str) -> list[WorkflowHandle]:
    """A model repeating the same call until loop safety cuts the turn."""
    demo = await seed_demo(db, tenant)
    handle = await _agent_conversation(client, db, tenant, queue, "orders")
    lookup = {"tool": "orders.lookup", "args": {"order_id": demo.ada_placed_order_id}}
    await _send(handle, _plan({"loop": [lookup]}))
    await handle.result()
    return [handle]


SCENARIOS: dict[str, Scenario] = {
    "conversation_enqueue_and_close": enqueue_and_close,
    "conversation_interrupt": interrupt,
    "conversation_model_failures": model_failures,
    "conversation_continue_as_new": continue_as_new,
    "conversation_tool_turn": tool_turn,
    "conversation_approval": approval,
    "conversation_loop_cut": loop_cut,
}


async def record(settings: Settings, only: list[str] | None = None) -> list[Path]:
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
                if only and name not in only:
                    continue
                handles = await scenario(deps.client, db, tenant.tenant_id, queue)
                for i, handle in enumerate(handles):
                    # Stored decoded: synthetic data only, and replay needs no keys.
                    stored = f"{name}{'_' + str(i) if len(handles) > 1 else ''}"
                    written.append(await store_history(stored, handle, deps.client.data_converter.payload_codec))
    finally:
        await db.close()
    return written


def main() -> int:
    only = sys.argv[1:]
    unknown = sorted(set(only) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenarios: {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    return run_recorder(lambda settings: record(settings, only))


if __name__ == "__main__":
    sys.exit(main())
