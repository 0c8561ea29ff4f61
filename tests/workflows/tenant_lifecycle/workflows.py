"""Starting the workflows that offboarding tests need, straight on Temporal (no gateway in between)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from contracts.conversation import ConversationInput, conversation_workflow_id
from contracts.lifecycle import TenantLifecycleInput, TenantLifecycleResult, lifecycle_workflow_id
from db.database import Database, run_sql
from workflows.conversation import ConversationWorkflow
from workflows.tenant_lifecycle import TenantLifecycleWorkflow

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")


def tenant_attributes(tenant_id: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)])


async def start_lifecycle(
    client: Client, queue: str, tenant_id: str, retention: timedelta
) -> WorkflowHandle[TenantLifecycleWorkflow, TenantLifecycleResult]:
    return await client.start_workflow(
        TenantLifecycleWorkflow.run,
        TenantLifecycleInput(tenant_id=tenant_id, retention=retention, actor="platform:tests", reason="tests"),
        id=lifecycle_workflow_id(tenant_id),
        task_queue=queue,
        search_attributes=tenant_attributes(tenant_id),
    )


async def start_idle_conversation(client: Client, db: Database, queue: str, tenant_id: str) -> WorkflowHandle:
    """A conversation whose run waits for messages for an hour: what offboarding has to stop."""
    conversation_id = str(uuid.uuid4())
    async with db.tenant_session(tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:id, :tid, 'support', 'api')",
            {"id": conversation_id, "tid": tenant_id},
        )
    return await client.start_workflow(
        ConversationWorkflow.run,
        ConversationInput(tenant_id=tenant_id, conversation_id=conversation_id),
        id=conversation_workflow_id(tenant_id, conversation_id),
        task_queue=queue,
        search_attributes=tenant_attributes(tenant_id),
    )
