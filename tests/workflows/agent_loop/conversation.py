"""Driving a `ConversationWorkflow` directly (no gateway) on the time-skipping server, and reading the results."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from agents import transcripts
from contracts.agents import ApprovalDecision, ApprovalDecisionKind
from contracts.conversation import (
    ConversationInput,
    ConversationState,
    DoubleTexting,
    SubmitMessage,
    conversation_workflow_id,
)
from db.database import Database, run_sql
from tests.workflows.agent_loop.conftest import Loop
from workflows.conversation import ConversationWorkflow

# Long enough that no test's skipped time closes the run for idleness.
IDLE_SECONDS = 14 * 24 * 3600.0
_POLLS = 1200
_POLL_SECONDS = 0.1


def plan(*items: dict[str, Any]) -> str:
    return "PLAN: " + json.dumps(list(items))


def call(tool: str, **args: Any) -> dict[str, Any]:
    return {"tool": tool, "args": args}


async def rows(db: Database, tenant_id: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.tenant_session(tenant_id) as session:
        return [dict(r) for r in (await run_sql(session, sql, params)).mappings().all()]


async def start(
    loop: Loop,
    agent: str,
    customer_id: str | None,
    *,
    double_texting: DoubleTexting = DoubleTexting.ENQUEUE,
    max_turns_per_run: int = 0,
) -> WorkflowHandle:
    conversation_id = str(uuid.uuid4())
    async with loop.db.tenant_session(loop.tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status, customer_id,"
            " created_at, updated_at) VALUES (:id, :tid, :agent, 'api', '{}'::jsonb, :dt, 'open', :customer, now(),"
            " now())",
            {
                "id": conversation_id,
                "tid": loop.tenant_id,
                "agent": agent,
                "dt": double_texting.value,
                "customer": customer_id,
            },
        )
    inp = ConversationInput(
        tenant_id=loop.tenant_id,
        conversation_id=conversation_id,
        agent=agent,
        customer_id=customer_id,
        double_texting=double_texting,
        idle_timeout_seconds=IDLE_SECONDS,
        max_turns_per_run=max_turns_per_run,
    )
    return await loop.env.client.start_workflow(
        ConversationWorkflow.run,
        inp,
        id=conversation_workflow_id(loop.tenant_id, conversation_id),
        task_queue=loop.queue,
    )


async def send(handle: WorkflowHandle, content: str, message_id: str | None = None) -> str:
    message_id = message_id or str(uuid.uuid4())
    _ = await handle.execute_update(
        ConversationWorkflow.submit_message, SubmitMessage(message_id=message_id, content=content)
    )
    return message_id


async def decide(handle: WorkflowHandle, approval_id: str, kind: ApprovalDecisionKind) -> object:
    return await handle.execute_update(
        ConversationWorkflow.decide_approval, ApprovalDecision(approval_id=approval_id, decision=kind)
    )


_QUERY_TIMEOUTS = (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


async def state(handle: WorkflowHandle, attempts: int = 5) -> ConversationState:
    for attempt in range(attempts):
        try:
            result: ConversationState = await handle.query(
                ConversationWorkflow.state, rpc_timeout=timedelta(seconds=10)
            )
            return result
        except RPCError as err:
            # A query races the run's continue-as-new or a busy worker now and then; asked again, it answers.
            # The client's own deadline surfaces as CANCELLED ("Timeout expired"), the server's as
            # DEADLINE_EXCEEDED.
            if err.status not in _QUERY_TIMEOUTS or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


async def until(handle: WorkflowHandle, check: Any) -> ConversationState:
    """Poll the run's state until `check(state)` holds (the run answers queries while it works)."""
    current: ConversationState | None = None
    for _ in range(_POLLS):
        current = await state(handle)
        if check(current):
            return current
        await asyncio.sleep(_POLL_SECONDS)
    raise AssertionError(f"the conversation never reached the expected state; last: {current}")


async def turns_done(handle: WorkflowHandle, turns: int) -> ConversationState:
    return await until(handle, lambda s: s.turns_completed >= turns and s.current_message_id is None)


async def answer(loop: Loop, message_id: str) -> str:
    # Read through the transcript module: the text is sealed at rest.
    async with loop.db.tenant_session(loop.tenant_id) as session:
        found = (
            await run_sql(
                session,
                "SELECT tenant_id, id, content, content_sealed FROM messages WHERE reply_to = :m",
                {"m": message_id},
            )
        ).all()
        assert len(found) == 1, found
        return await transcripts.open_content(session, found[0])
