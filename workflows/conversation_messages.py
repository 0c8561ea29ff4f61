"""A conversation's messages at its edges, for `ConversationWorkflow`: the checks a message passes before
it enters history, the announcement of a turn that failed or was superseded, and the answer sent back
through the provider channel the customer wrote from.

Kept apart from the workflow's loop (queueing, interrupts, continue-as-new), which calls these in the same
order as before, so a recorded history replays unchanged.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception

from workflows.turn_io import run_local

with workflow.unsafe.imports_passed_through():
    from contracts.channels import (
        CHANNEL_REPLY_RETRY,
        CHANNEL_REPLY_SCHEDULE_TO_CLOSE,
        CHANNEL_REPLY_START_TO_CLOSE,
        REPLY_CHANNELS,
        ChannelReplyInput,
        ChannelReplyResult,
    )
    from contracts.conversation import ConversationInput, DoubleTexting, SubmitMessage, TurnFailedInput
    from contracts.names import ACT_CHANNEL_SEND_REPLY, ACT_TURN_FAILED

# Answers of conversations on a provider channel (SMS, Slack, WhatsApp, email) are sent back through it.
CHANNEL_REPLY_PATCH = "channel-replies"


def validate_message(inp: ConversationInput, msg: SubmitMessage, *, busy: bool) -> None:
    """Refuse a message before it enters history: empty, too long, control characters, or a double text
    where the conversation rejects them (`busy`: a turn runs or messages wait)."""
    text = msg.content.strip()
    if not text:
        raise ApplicationError("message content is empty", type="InvalidMessage", non_retryable=True)
    if len(msg.content) > inp.max_message_chars:
        raise ApplicationError(
            f"message content exceeds {inp.max_message_chars} characters",
            type="InvalidMessage",
            non_retryable=True,
        )
    if any(ord(ch) < 32 and ch not in "\n\r\t" for ch in msg.content):
        raise ApplicationError("message content has control characters", type="InvalidMessage", non_retryable=True)
    if inp.double_texting == DoubleTexting.REJECT and busy:
        raise ApplicationError(
            "a turn is in progress and this conversation rejects double texting",
            type="ConversationBusy",
            non_retryable=True,
        )


def failure_reason(err: BaseException, *, interrupted: bool) -> tuple[str, str]:
    """The reason (at most 500 characters) and error type a failed turn is announced with."""
    cause = err.__cause__ if isinstance(err, ActivityError | ChildWorkflowError) and err.__cause__ else err
    if interrupted:
        reason, error_type = "interrupted by a newer message", "Interrupted"
    else:
        reason = str(cause) or type(cause).__name__
        error_type = (cause.type or "") if isinstance(cause, ApplicationError) else type(cause).__name__
    return reason[:500], error_type


async def announce_turn_failed(
    inp: ConversationInput, message_id: str, reason: str, error_type: str, agent: str = ""
) -> None:
    """Announce a turn that ended without an answer; `agent` is the one that had it (after a handoff, the one
    handed to), kept on the question's row so canary accounting counts the turn with it."""
    await run_local(
        ACT_TURN_FAILED,
        TurnFailedInput(
            tenant_id=inp.tenant_id,
            conversation_id=inp.conversation_id,
            message_id=message_id,
            reason=reason,
            error_type=error_type,
            agent=agent,
        ),
    )


async def send_channel_reply(inp: ConversationInput, message_id: str) -> None:
    """Send the answer back through the customer's channel; a reply that cannot be sent ends no turn."""
    if inp.channel not in REPLY_CHANNELS or not workflow.patched(CHANNEL_REPLY_PATCH):
        return
    try:
        await workflow.execute_activity(
            ACT_CHANNEL_SEND_REPLY,
            ChannelReplyInput(
                tenant_id=inp.tenant_id,
                conversation_id=inp.conversation_id,
                reply_to_message_id=message_id,
            ),
            result_type=ChannelReplyResult,
            start_to_close_timeout=CHANNEL_REPLY_START_TO_CLOSE,
            schedule_to_close_timeout=CHANNEL_REPLY_SCHEDULE_TO_CLOSE,
            retry_policy=CHANNEL_REPLY_RETRY,
        )
    except ActivityError as err:
        if is_cancelled_exception(err):
            raise asyncio.CancelledError from err
        workflow.logger.warning("channel reply not sent", extra={"message_id": message_id})
