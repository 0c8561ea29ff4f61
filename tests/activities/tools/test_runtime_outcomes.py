"""Outcomes the workflow records itself, workflow-decided events, and the step rows a turn reads back."""

# Fixtures come in by import (parameters then shadow the imported names).
# ruff: noqa: F811

from __future__ import annotations

from collections import Counter

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tools.outcomes import ToolOutcomeActivities
from agents.steps import turn_steps, upsert_step
from contracts.agents import PublishEventInput
from contracts.conversation import ToolCallRequest
from contracts.tool_calls import RecordToolOutcomeInput, ToolCallResult, ToolStatus
from core.settings import Settings
from tests.activities.tools.runtime_fixtures import ToolHarness, harness, new_tenant, redis  # noqa: F401


def _outcome(harness: ToolHarness, call_id: str, status: ToolStatus, **result: str) -> RecordToolOutcomeInput:
    return RecordToolOutcomeInput(
        tenant_id=harness.tenant_id,
        conversation_id="c-outcomes",
        message_id=f"m-{call_id}",
        step=2,
        call=ToolCallRequest(call_id=call_id, tool="orders.refund", arguments={"amount": 10}),
        result=ToolCallResult(call_id=call_id, tool="orders.refund@2", status=status, **result),  # type: ignore[arg-type]
        call_index=1,
    )


async def test_a_recorded_refusal_is_stored_and_announced_once(harness: ToolHarness) -> None:
    activities = ToolOutcomeActivities(harness.db, harness.bus)
    run = ActivityEnvironment().run
    inp = _outcome(harness, "call-r1", ToolStatus.DENIED, error_type="ApprovalDenied", message="a human said no")
    await run(activities.record_outcome, inp)
    await run(activities.record_outcome, inp)
    events = await harness.bus.history(harness.tenant_id, "c-outcomes")
    failed = [e for e in events if e.data.get("call_id") == "call-r1"]
    assert [e.type for e in failed] == ["tool.failed"]
    assert failed[0].data["error_type"] == "ApprovalDenied" and failed[0].data["version"] == 2
    async with harness.db.tenant_session(harness.tenant_id) as session:
        [row] = await turn_steps(session, "m-call-r1")
    assert (row.tool, row.version, row.step, row.call_index, row.status) == ("orders.refund", 2, 2, 1, "denied")
    assert row.arguments == {"amount": 10}


async def test_recording_what_the_runtime_already_announced_adds_nothing(harness: ToolHarness) -> None:
    call = harness.call("tests.deny", {"order_id": "o-3"})
    outcome = await harness.run(call)
    result = ToolCallResult.model_validate(outcome.details[0])
    inp = RecordToolOutcomeInput(
        tenant_id=call.tenant_id,
        conversation_id=call.conversation_id,
        message_id=call.message_id,
        step=call.step,
        call=ToolCallRequest(call_id=call.call_id, tool=call.tool, arguments=call.arguments),
        result=result,
    )
    await ActivityEnvironment().run(ToolOutcomeActivities(harness.db, harness.bus).record_outcome, inp)
    assert Counter(e.type for e in await harness.events(call)) == {"tool.started": 1, "tool.failed": 1}


async def test_publish_validates_the_type_and_honours_the_dedup_key(harness: ToolHarness) -> None:
    activities = ToolOutcomeActivities(harness.db, harness.bus)
    run = ActivityEnvironment().run
    handoff = PublishEventInput(
        tenant_id=harness.tenant_id,
        conversation_id="c-publish",
        type="agent.handoff",
        data={"to": "billing"},
        dedup_key="m-1:handoff",
    )
    await run(activities.publish, handoff)
    await run(activities.publish, handoff)
    events = await harness.bus.history(harness.tenant_id, "c-publish")
    assert [(e.type, e.data) for e in events] == [("agent.handoff", {"to": "billing"})]
    with pytest.raises(ApplicationError) as refused:
        await run(activities.publish, handoff.model_copy(update={"type": "tool.exploded"}))
    assert (refused.value.type, refused.value.non_retryable) == ("InvalidEventType", True)


async def test_steps_come_back_in_turn_order_and_only_for_their_tenant(
    harness: ToolHarness, settings: Settings
) -> None:
    async with harness.db.tenant_session(harness.tenant_id) as session:
        for step, index in ((1, 1), (0, 0), (1, 0)):
            await upsert_step(
                session,
                tenant_id=harness.tenant_id,
                conversation_id="c-order",
                message_id="m-order",
                call_id=f"call-{step}-{index}",
                tool="tests.echo",
                status="running",
                step=step,
                call_index=index,
            )
        # A later write of the same call records its outcome; it does not move it.
        await upsert_step(
            session,
            tenant_id=harness.tenant_id,
            conversation_id="c-order",
            message_id="m-order",
            call_id="call-0-0",
            tool="tests.echo",
            status="ok",
            step=9,
            output={"n": 1},
            attempts=2,
        )
        rows = await turn_steps(session, "m-order")
    assert [(r.step, r.call_index) for r in rows] == [(0, 0), (1, 0), (1, 1)]
    assert (rows[0].status, rows[0].output, rows[0].attempts) == ("ok", {"n": 1}, 2)
    other = await new_tenant(settings)
    async with harness.db.tenant_session(other) as session:
        assert await turn_steps(session, "m-order") == []
