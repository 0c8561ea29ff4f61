"""`ErasureWorkflow` and `RetentionWorkflow` scenarios: a customer with a conversation erased (and the same
erasure run again, which finds every step done), and a retention run that deletes in several calls."""

from __future__ import annotations

import uuid

from temporalio.client import WorkflowHandle

from commerce.demo import seed_demo
from contracts.events import EventType
from contracts.names import WF_ERASURE, WF_RETENTION
from contracts.privacy import ErasureInput, ErasureResult, RetentionInput, RetentionResult, erasure_workflow_id
from db.database import run_sql
from policies.erasure.store import create_erasure
from policies.retention import RetentionPolicy, save_retention
from tests.workflows.scenarios import Recording


async def _conversation(rec: Recording, tenant_id: str, customer_id: str | None, days_old: int, messages: int) -> str:
    conversation = str(uuid.uuid4())
    async with rec.db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id) "
            "VALUES (:c, :t, 'support', 'web', :cu)",
            {"c": conversation, "t": tenant_id, "cu": customer_id},
        )
        for _ in range(messages):
            await run_sql(
                session,
                "INSERT INTO messages (id, tenant_id, conversation_id, role, content, created_at) "
                "VALUES (:id, :t, :c, 'user', 'my number is +44 20 7946 0000', now() - make_interval(days => :d))",
                {"id": str(uuid.uuid4()), "t": tenant_id, "c": conversation, "d": days_old},
            )
    await rec.bus.publish(tenant_id, conversation, EventType.MESSAGE_ACCEPTED, {"n": messages})
    return conversation


async def erasure(rec: Recording) -> list[WorkflowHandle]:
    tenant_id = await rec.new_tenant("erasure")
    demo = await seed_demo(rec.db, tenant_id)
    await _conversation(rec, tenant_id, demo.ada_id, 0, 2)
    erasure_id = str(uuid.uuid4())
    async with rec.db.tenant_session(tenant_id) as session:
        await create_erasure(
            session, tenant_id, erasure_id, demo.ada_id, "recorder", erasure_workflow_id(tenant_id, erasure_id)
        )
    handles = []
    # The second run of the same erasure finds every step done and repeats nothing.
    for run in ("", ":again"):
        handle = await rec.client.start_workflow(
            WF_ERASURE,
            ErasureInput(tenant_id=tenant_id, erasure_id=erasure_id, customer_id=demo.ada_id, actor="recorder"),
            id=erasure_workflow_id(tenant_id, erasure_id) + run,
            task_queue=rec.queue,
            result_type=ErasureResult,
        )
        result = await handle.result()
        assert result.rows["public.messages"] == 2, result
        handles.append(handle)
    return handles


async def retention(rec: Recording) -> list[WorkflowHandle]:
    """A tenant keeping transcripts a day, with five messages of three days ago: three calls of two each."""
    tenant_id = await rec.new_tenant("retention")
    async with rec.db.tenant_session(tenant_id) as session:
        await save_retention(session, tenant_id, RetentionPolicy(transcripts_days=1, events_days=1))
    await _conversation(rec, tenant_id, None, 3, 5)
    handle = await rec.client.start_workflow(
        WF_RETENTION,
        RetentionInput(batch_size=2, batches_per_call=1),
        id=f"platform:privacy:retention:record-{uuid.uuid4().hex[:8]}",
        task_queue=rec.queue,
        result_type=RetentionResult,
    )
    result = await handle.result()
    assert result.deleted.get("public.messages", 0) >= 5 and not result.failed, result
    return [handle]
