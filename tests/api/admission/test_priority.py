"""A conversation's run carries its tenant's plan as Temporal priority and the tenant as fairness key, and
keeps them across continue-as-new and into the child workflows of its turns' sagas."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from db.codec import connect
from tenancy.plans import limits_for
from tests.e2e.fixtures import create_test_tenant
from tests.e2e.platform import Platform
from workflows.conversation import ConversationWorkflow


async def _priority(platform: Platform, workflow_id: str, run_id: str | None = None) -> tuple[int, str, float]:
    client = await connect(platform.settings)
    description = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    priority = description.raw_description.workflow_execution_info.priority
    return priority.priority_key, priority.fairness_key, priority.fairness_weight


@pytest.mark.parametrize("plan", ["free", "enterprise"])
def test_a_conversation_runs_with_its_plans_priority_and_its_tenant_as_fairness_key(
    platform: Platform, plan: str
) -> None:
    tenant_id, key = create_test_tenant(platform.settings, f"Priority {plan}", plan=plan)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=platform.base_url, headers=headers, timeout=30) as api:
        conversation_id = api.post("/v1/conversations", json={}).json()["id"]
        posted = api.post(f"/v1/conversations/{conversation_id}/messages", json={"content": "hello"})
        assert posted.status_code == 202, posted.text

    limits = limits_for(plan)
    priority_key, fairness_key, weight = asyncio.run(
        _priority(platform, conversation_workflow_id(tenant_id, conversation_id))
    )
    assert (priority_key, fairness_key) == (limits.queue_priority, tenant_id)
    assert weight == pytest.approx(limits.fairness_weight)


def test_the_priority_survives_continue_as_new(platform: Platform) -> None:
    from policies.fairness import priority_for

    tenant_id, key = create_test_tenant(platform.settings, "Priority carried")
    headers = {"Authorization": f"Bearer {key}"}
    conversation_id = httpx.post(f"{platform.base_url}/v1/conversations", json={}, headers=headers).json()["id"]
    workflow_id = conversation_workflow_id(tenant_id, conversation_id)

    async def run() -> tuple[str, tuple[int, str, float]]:
        client = await connect(platform.settings)
        handle = await client.start_workflow(
            ConversationWorkflow.run,
            ConversationInput(tenant_id=tenant_id, conversation_id=conversation_id, max_turns_per_run=1),
            id=workflow_id,
            task_queue=platform.settings.task_queue,
            priority=priority_for(tenant_id, queue_priority=2, fairness_weight=7.0),
        )
        first_run = handle.result_run_id or ""
        message = SubmitMessage(message_id=str(uuid.uuid4()), content="hi")
        await handle.execute_update(ConversationWorkflow.submit_message, message, rpc_timeout=timedelta(seconds=30))
        for _ in range(100):
            latest = await client.get_workflow_handle(workflow_id).describe()
            if latest.run_id != first_run:
                return latest.run_id, await _priority(platform, workflow_id, latest.run_id)
            await asyncio.sleep(0.1)
        raise AssertionError("the run never continued as new")

    _run_id, (priority_key, fairness_key, weight) = asyncio.run(run())
    assert (priority_key, fairness_key, weight) == (2, tenant_id, pytest.approx(7.0))
