"""Mailing an invitation: the link goes to the invited address through the mail outbox (`mail_outbox`), sent
by a `MailWorkflow` with the outbox's retries, so a mail server that is down delays the mail, never loses it.

The link stays out of the workflow's history: the run carries only the outbox message's id, and `mail.send`
empties the message's body once it is sent. The outbox key is the invitation's id, so asking twice queues one
message. Mailing is the caller's choice (`send_email`); whoever invites always gets the link in the answer too,
and the answer says whether the mail was queued (`queued`) or could not be (`failed`: pass the link on).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy.exc import SQLAlchemyError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.state import GatewayState
from contracts.names import WF_MAIL
from contracts.search_attributes import TENANT_ID
from contracts.signup import SendMailInput, mail_workflow_id
from tenancy import signup_store
from tenancy.invitations import Invitation
from tenancy.tenant_admin import get_tenant

log = structlog.get_logger("aiaas.invitations")
MAIL_KIND = "invitation"

EmailStatus = Literal["not_requested", "queued", "failed"]


def invitation_text(tenant_name: str, role: str, accept_url: str, expires_at: datetime) -> tuple[str, str]:
    """(subject, body) of the mail."""
    subject = f"You are invited to {tenant_name} on aiaas"
    body = (
        f"You have been invited to join {tenant_name} on aiaas as {role}.\n\n"
        f"Accept the invitation here (sign in first if asked):\n{accept_url}\n\n"
        f"The link works once and expires on {expires_at:%Y-%m-%d %H:%M} UTC. If you did not expect this mail,"
        " ignore it: nothing happens unless the link is opened and accepted.\n"
    )
    return subject, body


async def mail_invitation(state: GatewayState, tenant_id: str, invitation: Invitation, accept_url: str) -> EmailStatus:
    """Queue the mail and start its run; `failed` (logged) when either could not be done."""
    try:
        tenant = await get_tenant(state.db, tenant_id)
        subject, body = invitation_text(tenant.name, invitation.role, accept_url, invitation.expires_at)
        message_id = await signup_store.enqueue(
            state.db,
            key=f"invitation:{invitation.id}",
            recipient=invitation.email,
            subject=subject,
            body=body,
            kind=MAIL_KIND,
        )
        # Already started for this message: it was queued and started before, and sends it once.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await state.temporal.start_workflow(
                WF_MAIL,
                SendMailInput(message_id=message_id),
                id=mail_workflow_id(message_id),
                task_queue=state.settings.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)]),
            )
    except (SQLAlchemyError, RPCError, OSError) as exc:
        log.warning("invitation mail not queued", invitation_id=invitation.id, error_type=type(exc).__name__)
        return "failed"
    return "queued"
