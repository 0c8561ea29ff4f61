"""A turn's merged bookkeeping steps (`turn-steps` patch): the early-exit lookup and the first route in one
local activity, the answer and the release of the concurrent-turn slot in another; the slot still comes back
when Redis refuses the merged release; and a turn that fails after a handoff is kept with the agent that had it.
"""

from __future__ import annotations

import uuid

from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.conversation import ConversationActivities
from activities.early_exit import EarlyExitActivities
from activities.resolve_agent import AgentActivities
from activities.routing import RoutingActivities
from activities.turn_lease import TurnLeaseActivities
from activities.turn_steps import TurnStepActivities
from app.tools import platform_registry
from contracts.conversation import CompleteTurnInput, DoubleTexting, RecordUserMessageInput
from contracts.names import (
    ACT_COMPLETE_TURN,
    ACT_EARLY_EXIT_LOOKUP,
    ACT_FINISH_TURN,
    ACT_MODEL_COMPLETE,
    ACT_PREPARE_TURN,
    ACT_RELEASE_TURN_LEASE,
    ACT_RESOLVE_AGENT,
    ACT_ROUTE_DECIDE,
    ACT_TURN_FAILED,
)
from contracts.turn_steps import FinishTurnInput
from core.events import EventBus
from core.settings import Settings
from db.database import run_sql
from policies.concurrency import lease_key
from tests.workflows.agent_loop.conftest import Loop
from tests.workflows.agent_loop.conversation import answer, call, plan, rows, send, start, turns_done, until
from tests.workflows.agent_loop.test_turn_leases import _admit, _steps, _until_free


async def test_a_simple_turn_prepares_and_finishes_in_one_local_activity_each(loop: Loop, redis: Redis) -> None:
    handle = await start(loop, "support", loop.demo.ada_id)
    message_id = await _admit(redis, loop.tenant_id)
    await send(handle, plan({"say": "hello there"}), message_id)
    await turns_done(handle, 1)
    assert await answer(loop, message_id) == "hello there"
    await _until_free(redis, loop.tenant_id, message_id)

    steps = [(kind, result) for kind, result in await _steps(loop, handle) if kind != "timer"]
    kinds = [kind for kind, _ in steps]
    # The run's first turn resolves its agent in the preparation too.
    assert kinds[-3:] == [ACT_PREPARE_TURN, ACT_MODEL_COMPLETE, ACT_FINISH_TURN], steps
    for merged in (ACT_RESOLVE_AGENT, ACT_EARLY_EXIT_LOOKUP, ACT_ROUTE_DECIDE, ACT_COMPLETE_TURN):
        assert merged not in kinds, steps
    assert ACT_RELEASE_TURN_LEASE not in kinds, steps
    prepared = steps[-3][1]
    assert isinstance(prepared, dict) and prepared["route"]["chain"], prepared
    assert prepared["resolved"]["definition"]["name"] == "support"
    finished = steps[-1][1]
    assert isinstance(finished, dict) and finished["lease_released"] is True, finished

    # The next turn keeps the run's resolution: its preparation resolves nothing and still routes.
    second = await send(handle, plan({"say": "again"}))
    await turns_done(handle, 2)
    assert await answer(loop, second) == "again"
    steps = [(kind, result) for kind, result in await _steps(loop, handle) if kind != "timer"]
    assert [kind for kind, _ in steps][-3:] == [ACT_PREPARE_TURN, ACT_MODEL_COMPLETE, ACT_FINISH_TURN], steps
    prepared = steps[-3][1]
    assert isinstance(prepared, dict) and prepared["resolved"] is None and prepared["route"]["chain"], prepared


async def test_a_failed_turn_after_a_handoff_is_kept_with_the_agent_that_had_it(loop: Loop) -> None:
    demo = loop.demo
    handle = await start(loop, "support", demo.ada_id, double_texting=DoubleTexting.INTERRUPT)
    handoff = call("agents.handoff", target="orders", reason="refund")
    refund = call("orders.refund", order_id=demo.ada_placed_order_id, amount_cents=10_500, reason="late")
    first = await send(handle, plan(handoff, refund))
    await until(handle, lambda s: bool(s.pending_approvals))
    second = await send(handle, "never mind")
    await turns_done(handle, 1)
    assert await answer(loop, second) == "echo: never mind"

    # The interrupted turn has no answer; its question keeps the agent handed to, not the conversation's first.
    kept = await rows(loop.db, loop.tenant_id, "SELECT role, agent FROM messages WHERE id = :m", m=first)
    assert kept == [{"role": "user", "agent": "orders"}]
    answers = await rows(loop.db, loop.tenant_id, "SELECT agent FROM messages WHERE reply_to = :m", m=second)
    assert answers == [{"agent": "orders"}]
    kinds = [kind for kind, _ in await _steps(loop, handle)]
    assert kinds.count(ACT_TURN_FAILED) == 1


async def test_finish_reports_a_release_redis_refused_and_writes_the_answer_once(
    loop: Loop, redis: Redis, migrated: Settings
) -> None:
    tenant_id, conversation_id = loop.tenant_id, str(uuid.uuid4())
    async with loop.db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :tid, 'support', 'api')",
            {"id": conversation_id, "tid": tenant_id},
        )
    message_id = await _admit(redis, tenant_id)
    bus = EventBus(redis)
    conversation = ConversationActivities(loop.db, bus)
    env = ActivityEnvironment()
    await env.run(
        conversation.record_user_message,
        RecordUserMessageInput(
            tenant_id=tenant_id, conversation_id=conversation_id, message_id=message_id, content="hi"
        ),
    )
    # Nothing listens on this port: the lease's Redis is down, the transcript's Postgres and the bus are not.
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    agents = AgentActivities(loop.db, platform_registry())
    early = EarlyExitActivities(loop.db, redis, bus)
    routing = RoutingActivities(loop.db, bus, migrated)
    answer_in = CompleteTurnInput(
        tenant_id=tenant_id, conversation_id=conversation_id, reply_to=message_id, content="hello", model="m"
    )
    try:
        failing = TurnStepActivities(agents, early, routing, conversation, TurnLeaseActivities(down))
        result = await env.run(failing.finish, FinishTurnInput(complete=answer_in, lease_message_id=message_id))
    finally:
        await down.aclose()
    assert result.lease_failed and not result.lease_released
    assert await redis.zscore(lease_key(tenant_id), message_id) is not None
    assert await answer(loop, message_id) == "hello"

    # The workflow then releases through the lone activity; a second finish writes nothing new.
    working = TurnStepActivities(agents, early, routing, conversation, TurnLeaseActivities(redis))
    again = await env.run(working.finish, FinishTurnInput(complete=answer_in, lease_message_id=message_id))
    assert again.lease_released and again.completed == result.completed
    assert await redis.zscore(lease_key(tenant_id), message_id) is None
