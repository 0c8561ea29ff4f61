"""Durability: a worker killed mid-answer, continue-as-new, closing after idle time, and a message's row left
behind by an acceptance that never reached the run. Hangs, which take other paths than kills, are in
`test_hangs.py`."""

from __future__ import annotations

import asyncio
import time

import httpx
from temporalio.client import WorkflowExecutionStatus

from api.routes.conversations import message_id_for
from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from db.codec import connect
from db.database import Database, run_sql
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, events_of, read_frames
from workflows.conversation import ConversationWorkflow


def test_worker_killed_mid_turn_completes_exactly_once(platform: Platform, api: httpx.Client) -> None:
    conversation_id = api.post("/v1/conversations", json={"agent": "slowpoke"}).json()["id"]
    words = " ".join(f"w{i}" for i in range(16))
    message_id = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": words}).json()["message_id"]
    read_frames(api, conversation_id, lambda fs: sum(f.event == "token" for f in fs) >= 2)
    platform.kill_worker()
    assert not platform.worker.alive
    time.sleep(1.0)
    platform.start_worker()

    frames = events_of(read_frames(api, conversation_id, completed_for(message_id), timeout=120))
    completed = [f for f in frames if f.event == "message.completed"]
    assert len(completed) == 1
    assert completed[0].data["content"] == f"echo: {words}"  # type: ignore[index]
    attempts = sorted({f.data["attempt"] for f in frames if f.event == "turn.started"})  # type: ignore[index]
    assert attempts == [1, 2]
    # Once more after the completion: still exactly one of each.
    time.sleep(1.0)
    everything = events_of(read_frames(api, conversation_id, lambda fs: len(events_of(fs)) >= len(frames)))
    assert sum(f.event == "message.completed" for f in everything) == 1
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]


async def _start_direct(platform: Platform, conversation_id: str, tenant_id: str, **overrides: object):  # type: ignore[no-untyped-def]
    client = await connect(platform.settings)
    inp = ConversationInput(tenant_id=tenant_id, conversation_id=conversation_id, **overrides)  # type: ignore[arg-type]
    handle = await client.start_workflow(
        ConversationWorkflow.run,
        inp,
        id=conversation_workflow_id(tenant_id, conversation_id),
        task_queue=platform.settings.task_queue,
    )
    return client, handle


def test_continue_as_new_carries_the_conversation(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]

    async def scenario() -> tuple[int, int, str, str]:
        _client, handle = await _start_direct(platform, conversation_id, tenant_a[0], max_turns_per_run=2)
        first_run = handle.result_run_id
        ids = []
        for i in range(3):
            accepted = await handle.execute_update(
                ConversationWorkflow.submit_message,
                SubmitMessage(message_id=f"m-{conversation_id}-{i}", content=f"n{i}"),
            )
            ids.append(accepted.message_id)
            await _wait_turns(handle, i + 1)
        state = await handle.query(ConversationWorkflow.state)
        latest = await handle.describe()
        # A repeat of a message from the previous run is still recognised.
        repeat = await handle.execute_update(
            ConversationWorkflow.submit_message, SubmitMessage(message_id=ids[0], content="n0")
        )
        assert repeat.duplicate
        return state.turns_completed, len(ids), first_run or "", latest.run_id or ""

    turns, sent, first_run, latest_run = asyncio.run(scenario())
    assert turns == sent == 3
    assert first_run != latest_run
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["content"] for m in detail["messages"] if m["role"] == "assistant"] == [
        "echo: n0",
        "echo: n1",
        "echo: n2",
    ]


async def _wait_turns(handle, turns: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        state = await handle.query(ConversationWorkflow.state)
        if state.turns_completed >= turns and not state.pending_message_ids and state.current_message_id is None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"conversation did not reach {turns} turns")


def test_conversation_closes_after_idle_time(platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]) -> None:
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]

    async def scenario() -> tuple[int, WorkflowExecutionStatus | None]:
        _client, handle = await _start_direct(platform, conversation_id, tenant_a[0], idle_timeout_seconds=1.5)
        await handle.execute_update(
            ConversationWorkflow.submit_message, SubmitMessage(message_id=f"idle-{conversation_id}", content="hi")
        )
        result = await asyncio.wait_for(handle.result(), timeout=30)
        return result.turns_completed, (await handle.describe()).status

    turns, status = asyncio.run(scenario())
    assert turns == 1 and status == WorkflowExecutionStatus.COMPLETED

    async def repeat() -> tuple[bool, list[str], str | None]:
        # The closed run's memory of the message went with it; the fresh run knows it by its answer.
        _client, handle = await _start_direct(platform, conversation_id, tenant_a[0], idle_timeout_seconds=1.5)
        again = await handle.execute_update(
            ConversationWorkflow.submit_message, SubmitMessage(message_id=f"idle-{conversation_id}", content="hi")
        )
        state = await handle.query(ConversationWorkflow.state)
        await asyncio.wait_for(handle.result(), timeout=30)
        return again.duplicate, state.pending_message_ids, state.current_message_id

    assert asyncio.run(repeat()) == (True, [], None)
    # The next message through the gateway starts a fresh run on the same id and is answered.
    message_id = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "back again"}).json()[
        "message_id"
    ]
    frames = events_of(read_frames(api, conversation_id, completed_for(message_id)))
    assert any(f.event == "message.completed" and f.data["reply_to"] == message_id for f in frames)  # type: ignore[index]


def test_a_row_left_without_its_acceptance_is_taken_over_by_the_retry(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    """A message's row with no acceptance in the run's history behind it: what a worker that ran the update's
    handler, and then hung or died before its workflow task completed, left behind while the row was written
    before acceptance. The retry with the same id is taken in and answered once, where the run answers it."""
    conversation_id = api.post("/v1/conversations", json={}).json()["id"]
    stray = message_id_for(conversation_id, "lost-1")

    async def leave_row() -> None:
        db = Database(platform.settings.resolved_app_database_url(), pool_size=1)
        try:
            async with db.tenant_session(tenant_a[0]) as session:
                await run_sql(
                    session,
                    "INSERT INTO messages (id, tenant_id, conversation_id, role, content, client_message_id)"
                    " VALUES (:id, :tid, :cid, 'user', 'as first sent', 'lost-1')",
                    {"id": stray, "tid": tenant_a[0], "cid": conversation_id},
                )
        finally:
            await db.close()

    asyncio.run(leave_row())
    between = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "in between"}).json()
    read_frames(api, conversation_id, completed_for(between["message_id"]))
    retry = api.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": "as sent again", "client_message_id": "lost-1"},
    )
    assert retry.status_code == 202, retry.text
    assert (retry.json()["message_id"], retry.json()["duplicate"]) == (stray, False)
    frames = events_of(read_frames(api, conversation_id, completed_for(stray)))
    assert [f.data["content"] for f in frames if f.event == "message.completed" and f.data["reply_to"] == stray] == [  # type: ignore[index]
        "echo: as sent again"
    ]
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "in between"),
        ("assistant", "echo: in between"),
        ("user", "as sent again"),
        ("assistant", "echo: as sent again"),
    ]
    assert detail["turns_completed"] == 2
