"""`/v1/conversations/{id}/confirmations/{confirmation_id}`: the customer's yes or no to a question a turn put.

When the provenance policy finds a write the customer did not ask for in so many words, the turn asks
(`confirmation.requested` on the event stream, with the question and the confirmation id) and waits. The
app speaking for the customer answers here with `{"confirmed": true|false}`; it needs
`conversations:write`, the permission that sends the customer's messages, because the answer is the
customer's, not a staff decision (those go to `/approvals`). The conversation must be the caller's tenant's
(404 otherwise, as if absent); the run refuses an unknown id (404) or a second answer (409).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.conversation_runs import answer_confirmation
from api.deps import ConversationsWriteDep, DatabaseDep, TemporalDep
from api.errors import ApiError
from api.routes.conversations import load_conversation
from contracts.provenance import ConfirmationReply, ConfirmationStatus

router = APIRouter(prefix="/v1/conversations", tags=["confirmations"])

ConversationId = Annotated[uuid.UUID, Path(description="the conversation's id")]
ConfirmationId = Annotated[uuid.UUID, Path(description="the confirmation's id, from `confirmation.requested`")]


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirmed: bool


class ConfirmationOut(BaseModel):
    confirmation_id: str
    status: ConfirmationStatus


@router.post("/{conversation_id}/confirmations/{confirmation_id}", response_model=ConfirmationOut)
async def answer(
    conversation_id: ConversationId,
    confirmation_id: ConfirmationId,
    body: ConfirmationIn,
    principal: ConversationsWriteDep,
    db: DatabaseDep,
    temporal: TemporalDep,
) -> ConfirmationOut:
    conversation = await load_conversation(db, principal.tenant_id, str(conversation_id))
    reply = ConfirmationReply(confirmation_id=str(confirmation_id), confirmed=body.confirmed)
    try:
        status = await answer_confirmation(temporal, principal.tenant_id, conversation.id, reply)
    except WorkflowUpdateFailedError as exc:
        if (getattr(exc.cause, "type", None) or "") == "ConfirmationAnswered":
            raise ApiError(409, "confirmation_answered", "this confirmation has already been answered") from exc
        raise _not_found() from exc
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise _not_found() from exc
        raise ApiError(503, "engine_unavailable", "the workflow engine did not answer; retry shortly") from exc
    return ConfirmationOut(confirmation_id=str(confirmation_id), status=status)


def _not_found() -> ApiError:
    # Never asked, already expired, or its turn was interrupted: nothing waits for this answer.
    return ApiError(404, "confirmation_not_found", "no question with this id is waiting for an answer")
