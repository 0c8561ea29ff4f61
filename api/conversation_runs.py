"""The gateway's side of `ConversationWorkflow`: reach a conversation's run with update-with-start, query it,
and hand it a human's approval decision."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import (
    Priority,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api.schemas import ConversationOut, MessageCreate
from contracts.agents import ApprovalDecision, ApprovalStatus
from contracts.conversation import (
    ConversationInput,
    ConversationState,
    SubmitAccepted,
    SubmitMessage,
    conversation_workflow_id,
)
from core.settings import Settings
from workflows.conversation import ConversationWorkflow

TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CHANNEL = SearchAttributeKey.for_keyword("Channel")
AGENT = SearchAttributeKey.for_keyword("Agent")
_RPC_TIMEOUT = timedelta(seconds=30)


async def submit(
    temporal: Client,
    settings: Settings,
    tenant_id: str,
    conversation: ConversationOut,
    message_id: str,
    body: MessageCreate,
    priority: Priority | None = None,
) -> SubmitAccepted:
    """Submit a message, starting the conversation's run if none is open. `priority` (the tenant's plan and
    fairness key, `policies.fairness`) applies to a run this starts, and through it to every activity and
    child workflow of its turns."""
    workflow_id = conversation_workflow_id(tenant_id, conversation.id)
    start = WithStartWorkflowOperation(
        ConversationWorkflow.run,
        ConversationInput(
            tenant_id=tenant_id,
            conversation_id=conversation.id,
            agent=conversation.agent,
            customer_id=conversation.customer_id,
            channel=conversation.channel,
            double_texting=conversation.double_texting,
            idle_timeout_seconds=settings.conversation_idle_seconds,
            max_message_chars=settings.max_message_chars,
        ),
        id=workflow_id,
        task_queue=settings.task_queue,
        priority=priority or Priority.default,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(TENANT_ID, tenant_id),
                SearchAttributePair(CHANNEL, conversation.channel),
                SearchAttributePair(AGENT, conversation.agent),
            ]
        ),
    )
    return await temporal.execute_update_with_start_workflow(
        ConversationWorkflow.submit_message,  # type: ignore[arg-type]  # async handlers type as coroutines
        SubmitMessage(message_id=message_id, content=body.content, client_message_id=body.client_message_id),
        start_workflow_operation=start,
        # The update id is the message id: Temporal answers a repeated update with the first result.
        id=message_id,
        rpc_timeout=_RPC_TIMEOUT,
    )


async def live_state(temporal: Client, tenant_id: str, conversation_id: str) -> ConversationState | None:
    """The running conversation's state, or None when no run is open (idle or never started)."""
    handle = temporal.get_workflow_handle_for(
        ConversationWorkflow.run, conversation_workflow_id(tenant_id, conversation_id)
    )
    try:
        return await handle.query(ConversationWorkflow.state, rpc_timeout=timedelta(seconds=5))
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return None
        raise
    except Exception as exc:  # a closed run refuses queries with a WorkflowQueryRejectedError
        if type(exc).__name__ in ("WorkflowQueryRejectedError", "WorkflowQueryFailedError"):
            return None
        raise


async def decide_approval(
    temporal: Client, tenant_id: str, conversation_id: str, decision: ApprovalDecision
) -> ApprovalStatus:
    """Send the decision to the conversation's running turn; the resolution once the run has recorded it.

    Raises `WorkflowUpdateFailedError` when the run refuses it (`ApprovalNotFound`, `ApprovalAlreadyDecided`)
    and `RPCError` when no run is open.
    """
    handle = temporal.get_workflow_handle_for(
        ConversationWorkflow.run, conversation_workflow_id(tenant_id, conversation_id)
    )
    return await handle.execute_update(
        ConversationWorkflow.decide_approval,  # type: ignore[arg-type]  # async handlers type as coroutines
        decision,
        rpc_timeout=_RPC_TIMEOUT,
    )
