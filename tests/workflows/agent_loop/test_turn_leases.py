"""The concurrent-turn slot the gateway took for a message: kept while its turn works, renewed at each model
call, and given back by the workflow itself (a local activity in the run's history: with the answer,
`conversation.finish_turn`, else `conversation.release_turn_lease`) when the turn ends or starts waiting for a
person (who may take a day). The activities that record the answer or the approval request leave the slot
alone."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from redis.asyncio import Redis
from temporalio.client import WorkflowHandle
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from activities.conversation import ConversationActivities
from agents.steps import turn_steps
from commerce.connectors.faults import inject_fault
from contracts.agents import ApprovalRecordInput, ApprovalStatus
from contracts.conversation import CompleteTurnInput, RecordUserMessageInput
from contracts.names import ACT_FINISH_TURN, ACT_RECORD_APPROVAL, ACT_RELEASE_TURN_LEASE
from core.crypto import decode_history
from core.events import EventBus
from db.database import run_sql
from policies.concurrency import ConcurrencyLeases, lease_key
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, send, start, turns_done, until

ADMITTED_TTL_SECONDS = 30.0


async def _admit(redis: Redis, tenant_id: str) -> str:
    """What the gateway does for a new message: a slot, expiring on its own if nobody renews it."""
    message_id = str(uuid.uuid4())
    assert await ConcurrencyLeases(redis).acquire(tenant_id, message_id, limit=100, ttl_seconds=ADMITTED_TTL_SECONDS)
    return message_id


async def _seconds_left(redis: Redis, tenant_id: str, message_id: str) -> float | None:
    score = await redis.zscore(lease_key(tenant_id), message_id)
    if score is None:
        return None
    seconds, micros = await redis.time()
    return score / 1000 - (seconds + micros / 1_000_000)


async def _until_free(redis: Redis, tenant_id: str, message_id: str, timeout: float = 10.0) -> None:
    """The release follows the answer (or the approval request) as a step of its own, a moment later."""
    deadline = time.monotonic() + timeout
    while await _seconds_left(redis, tenant_id, message_id) is not None:
        assert time.monotonic() < deadline, "the slot was never given back"
        await asyncio.sleep(0.05)


async def _steps(loop: Loop, handle: WorkflowHandle) -> list[tuple[str, object]]:
    """The run's activities (local ones with their results) and timers, in history order."""
    history = await decode_history(await handle.fetch_history(), loop.env.client.data_converter.payload_codec)
    steps: list[tuple[str, object]] = []
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            details = event.marker_recorded_event_attributes.details
            if "data" in details and "result" in details:
                result = details["result"].payloads[0].data
                kind = json.loads(details["data"].payloads[0].data)["activity_type"]
                steps.append((kind, json.loads(result) if result else None))
        elif event.HasField("activity_task_scheduled_event_attributes"):
            steps.append((event.activity_task_scheduled_event_attributes.activity_type.name, None))
        elif event.HasField("timer_started_event_attributes"):
            steps.append(("timer", None))
    return steps


async def _until_fault_met(loop: Loop, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with loop.db.tenant_session(loop.tenant_id) as session:
            if not (await run_sql(session, "SELECT count(*) FROM sandbox_faults")).scalar_one():
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the slow step never started")


async def test_a_working_turn_renews_its_slot_and_frees_it_at_the_end(loop: Loop, redis: Redis) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    message_id = await _admit(redis, loop.tenant_id)
    # A slow payment keeps the turn busy inside its saga, after its first model call.
    await inject_fault(loop.db, loop.tenant_id, "payments.charge", mode="latency", latency_ms=3000)
    await send(handle, plan(call("orders.place", items=[{"sku": "SKU-MUG", "quantity": 1}])), message_id)
    await _until_fault_met(loop)

    left = await _seconds_left(redis, loop.tenant_id, message_id)
    assert left is not None and left > 5 * ADMITTED_TTL_SECONDS, left

    await turns_done(handle, 1)
    assert await answer(loop, message_id) == "done: orders.place=ok"
    await _until_free(redis, loop.tenant_id, message_id)

    # Given back by the workflow with the answer (`conversation.finish_turn`), in the run's history.
    steps = await _steps(loop, handle)
    kinds = [kind for kind, _ in steps]
    finished = steps[kinds.index(ACT_FINISH_TURN)][1]
    assert isinstance(finished, dict) and finished["lease_released"] is True, steps
    assert ACT_RELEASE_TURN_LEASE not in kinds, steps


async def test_a_turn_waiting_for_approval_gives_its_slot_back(loop: Loop, redis: Redis) -> None:
    handle = await start(loop, "orders", loop.demo.ada_id)
    placed = await send(handle, plan(call("orders.place", items=[{"sku": "SKU-HOODIE", "quantity": 2}])))
    await turns_done(handle, 1)
    async with loop.db.tenant_session(loop.tenant_id) as session:
        placed_calls = await turn_steps(session, placed)
    order = [{"id": c.output["order_id"]} for c in placed_calls if c.tool == "orders.place"][:1]
    message_id = await _admit(redis, loop.tenant_id)
    refund = call("orders.refund", order_id=order[0]["id"], amount_cents=10_500, reason="late")
    await send(handle, plan(refund), message_id)
    await until(handle, lambda s: bool(s.pending_approvals))
    await _until_free(redis, loop.tenant_id, message_id)

    # Recorded as requested, then released, then the wait for the decision (a timer for its deadline).
    assert (await _steps(loop, handle))[-3:] == [
        (ACT_RECORD_APPROVAL, None),
        (ACT_RELEASE_TURN_LEASE, True),
        ("timer", None),
    ]


async def test_recording_an_answer_or_an_approval_request_leaves_the_slot_alone(loop: Loop, redis: Redis) -> None:
    tenant_id, conversation_id = loop.tenant_id, str(uuid.uuid4())
    async with loop.db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :tid, 'orders', 'api')",
            {"id": conversation_id, "tid": tenant_id},
        )
    message_id = await _admit(redis, tenant_id)
    bus = EventBus(redis)
    conversation, approvals = ConversationActivities(loop.db, bus), ApprovalActivities(loop.db, bus)
    env = ActivityEnvironment()
    await env.run(
        conversation.record_user_message,
        RecordUserMessageInput(
            tenant_id=tenant_id, conversation_id=conversation_id, message_id=message_id, content="refund please"
        ),
    )
    request = ApprovalRecordInput(
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        approval_id=str(uuid.uuid4()),
        message_id=message_id,
        call_id="call-0",
        tool="orders.refund",
        status=ApprovalStatus.PENDING,
        timeout_seconds=60.0,
    )
    await env.run(approvals.record, request)
    assert await _seconds_left(redis, tenant_id, message_id) is not None

    answered = CompleteTurnInput(
        tenant_id=tenant_id, conversation_id=conversation_id, reply_to=message_id, content="refunded", model="m"
    )
    await env.run(conversation.complete_turn, answered)
    assert await _seconds_left(redis, tenant_id, message_id) is not None
