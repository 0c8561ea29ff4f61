"""The gateway's side of `ConversationWorkflow`: reach a conversation's run with update-with-start, query it,
and hand it a human's approval decision or the customer's answer to a confirmation.

Each of these waits a bounded time. What the run did not confirm in that time is unknown, not refused: a
submission may still be taken in (`NotConfirmed`; the client retries with the same message id, which the run
answers as a repeat if the first try got through), and a run that does not answer a query may be busy, hung
or between workers (`RunDidNotAnswer`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.common import (
    Priority,
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
from contracts.provenance import ConfirmationReply, ConfirmationStatus
from contracts.search_attributes import AGENT, CHANNEL, TENANT_ID
from core.genai_tracing import current_carrier
from core.settings import Settings
from workflows.conversation import ConversationWorkflow

_RPC_TIMEOUT = timedelta(seconds=30)
# Long enough for a workflow task lost with its worker to time out (10 s) and run again on another one.
CONFIRM_WITHIN = timedelta(seconds=15)
QUERY_WITHIN = timedelta(seconds=5)


class NotConfirmed(Exception):
    """The run did not confirm the submission in time; it may have taken the message in, or may not."""


class RunDidNotAnswer(Exception):
    """Neither the conversation's run nor the engine said in time what the run is doing."""


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
    try:
        async with asyncio.timeout(CONFIRM_WITHIN.total_seconds()):
            return await temporal.execute_update_with_start_workflow(
                ConversationWorkflow.submit_message,  # type: ignore[arg-type]  # async handlers type as coroutines
                SubmitMessage(
                    message_id=message_id,
                    content=body.content,
                    client_message_id=body.client_message_id,
                    trace_carrier=current_carrier(),
                ),
                start_workflow_operation=start,
                # Every try is an update of its own: Temporal would answer a repeated update id with the first
                # try's result, or with nothing once that try was lost. The run decides what repeats a message.
                id=f"{message_id}/{uuid.uuid4().hex}",
                rpc_timeout=CONFIRM_WITHIN,
            )
    except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
        raise NotConfirmed from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT:
            raise  # a refusal no retry changes
        # Anything else leaves the submission's fate unknown. FAILED_PRECONDITION among them: Temporal's answer
        # while the run's workflow task keeps timing out (its worker hung), which means not yet, not no.
        raise NotConfirmed from exc


async def live_state(temporal: Client, tenant_id: str, conversation_id: str) -> ConversationState | None:
    """The running conversation's state, or None when no run is open (idle or never started).

    Raises `RunDidNotAnswer` when the run does not answer in time (its worker hung, busy or gone, or its
    workflow task failing) or the engine cannot be reached.
    """
    handle = temporal.get_workflow_handle_for(
        ConversationWorkflow.run, conversation_workflow_id(tenant_id, conversation_id)
    )
    try:
        async with asyncio.timeout(QUERY_WITHIN.total_seconds()):
            return await handle.query(ConversationWorkflow.state, rpc_timeout=QUERY_WITHIN)
    except WorkflowQueryRejectedError:
        return None  # a closed run refuses queries
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise RunDidNotAnswer from exc
    except (TimeoutError, RPCTimeoutOrCancelledError, WorkflowQueryFailedError) as exc:
        raise RunDidNotAnswer from exc


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


async def answer_confirmation(
    temporal: Client, tenant_id: str, conversation_id: str, reply: ConfirmationReply
) -> ConfirmationStatus:
    """Send the customer's answer to the question the running turn put; the resolution once recorded.

    Raises `WorkflowUpdateFailedError` when the run refuses it (`ConfirmationNotFound`, `ConfirmationAnswered`)
    and `RPCError` when no run is open.
    """
    handle = temporal.get_workflow_handle_for(
        ConversationWorkflow.run, conversation_workflow_id(tenant_id, conversation_id)
    )
    return await handle.execute_update(
        ConversationWorkflow.confirm_action,  # type: ignore[arg-type]  # async handlers type as coroutines
        reply,
        rpc_timeout=_RPC_TIMEOUT,
    )
