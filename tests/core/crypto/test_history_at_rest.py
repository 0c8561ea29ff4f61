"""The headline: a real conversation through the gateway leaves no plaintext of the message or the answer in
its workflow history, read raw by a client without the codec, while the conversation works as before."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from core.crypto import decode_history
from db.codec import build_codec, connect
from tests.e2e.platform import Platform
from tests.e2e.sse import completed_for, events_of, read_frames
from workflows.conversation import ConversationWorkflow

from .conftest import platform_settings
from .test_sdk_paths import assert_sealed


async def _raw_history(platform: Platform, workflow_id: str) -> WorkflowHistory:
    plain = await Client.connect(
        platform.settings.temporal_address or "", namespace=platform.settings.temporal_namespace
    )
    return await plain.get_workflow_handle(workflow_id).fetch_history()


async def _decoded_bytes(platform: Platform, history: WorkflowHistory) -> bytes:
    codec = build_codec(platform_settings(platform))
    return History(events=(await decode_history(history, codec)).events).SerializeToString()


def _secret() -> str:
    return f"my card is 4111 1111 {uuid.uuid4().hex[:8]}, ship to 12 Baker Street"


def test_conversation_history_holds_no_plaintext(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    secret = _secret()
    conversation_id = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    accepted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": secret})
    assert accepted.status_code == 202, accepted.text
    frames = events_of(read_frames(api, conversation_id, completed_for(accepted.json()["message_id"])))
    [completed] = [f for f in frames if f.event == "message.completed"]
    answer = completed.data["content"]  # type: ignore[index]
    assert answer == f"echo: {secret}"

    history = asyncio.run(_raw_history(platform, conversation_workflow_id(tenant_a[0], conversation_id)))
    kinds = {event.event_type for event in history.events}
    assert {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    } <= kinds
    assert_sealed(history, tenant_a[0], secret, answer, "4111 1111", "Baker Street")
    # The same history, opened with the platform's keys, does hold the conversation.
    decoded = asyncio.run(_decoded_bytes(platform, history))
    assert secret.encode() in decoded and answer.encode() in decoded
    # Readers of the transcript see plain text as before.
    detail = api.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["content"] for m in detail["messages"]] == [secret, answer]


def test_a_closed_run_holds_no_plaintext_either(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    """A run that completes (idle timeout) leaves its result and carried-over state encrypted as well."""
    secret = _secret()
    conversation_id = api.post("/v1/conversations", json={"agent": "support"}).json()["id"]
    workflow_id = conversation_workflow_id(tenant_a[0], conversation_id)

    async def run() -> WorkflowHistory:
        client = await connect(platform_settings(platform))
        handle = await client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id=tenant_a[0], conversation_id=conversation_id, idle_timeout_seconds=1),
            id=workflow_id,
            task_queue=platform.settings.task_queue,
        )
        await handle.execute_update(
            ConversationWorkflow.submit_message, SubmitMessage(message_id=str(uuid.uuid4()), content=secret)
        )
        result = await handle.result()
        assert result.turns_completed == 1
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        return await _raw_history(platform, workflow_id)

    history = asyncio.run(run())
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert_sealed(history, tenant_a[0], secret, "4111 1111", "Baker Street")
