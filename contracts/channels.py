"""Channels: where customers write from (SMS, Slack, WhatsApp, email, the web widget) and how a reply goes back.

An inbound delivery becomes an `InboundMessage` once its provider's signature held (`channels.signatures`,
`channels.parsing`); the conversation it lands in carries the channel's kind as its `channel`, which is also
the run's `Channel` search attribute. When a turn of such a conversation is answered, the conversation's run
sends the answer back through the `channels.send_reply` activity (`ACT_CHANNEL_SEND_REPLY`) with a
`ChannelReplyInput`: one reply per answered message, keyed by it, so a retried activity sends nothing twice.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import Field
from temporalio.common import RetryPolicy

from contracts.base import Frozen


class ChannelKind(StrEnum):
    SMS = "sms"
    SLACK = "slack"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    WIDGET = "widget"


# Conversations on these channels get their answers sent back by the run; the widget's visitor reads the
# conversation's event stream instead, like an API client.
REPLY_CHANNELS: frozenset[str] = frozenset(
    {ChannelKind.SMS, ChannelKind.SLACK, ChannelKind.WHATSAPP, ChannelKind.EMAIL}
)


class Attachment(Frozen):
    """A file that came with a message: what it is, never its content or the provider's link to it."""

    # image, audio recording, video, document, sticker, file
    kind: str = Field(min_length=1, max_length=32)
    mime_type: str = Field(default="", max_length=127)
    # The name the sender gave the file, if any (Slack, email, a WhatsApp document).
    name: str = Field(default="", max_length=100)


class InboundMessage(Frozen):
    """One customer message as a provider delivered it, after its signature was verified."""

    kind: ChannelKind
    # The provider's own id of the message (Twilio MessageSid, Slack event_id, WhatsApp wamid, Message-Id).
    provider_message_id: str = Field(min_length=1, max_length=512)
    # Who wrote: a phone number (E.164), a Slack user id, a WhatsApp id, an email address.
    sender: str = Field(min_length=1, max_length=320)
    text: str
    # Where a reply goes when it is not the sender itself: a Slack channel, an email subject line.
    reply_to: str = ""
    subject: str = ""
    # Files that came with the message (`channels.media`); a message may be a file alone, with no text.
    attachments: tuple[Attachment, ...] = ()


class ChannelReplyInput(Frozen):
    tenant_id: str
    conversation_id: str
    # The customer's message the turn answered; the answer is read by reference from the transcript.
    reply_to_message_id: str


class ChannelReplyResult(Frozen):
    # "sent", "already_sent" (a retried activity), "no_answer", "no_channel" (the conversation is not bound to
    # a channel any more, e.g. the channel was deleted), "refused" (the provider said no for good).
    outcome: str
    status_code: int | None = None


# One reply is one HTTP request to the provider; a hung provider is noticed after this.
CHANNEL_REPLY_START_TO_CLOSE = timedelta(seconds=20)
# A provider that is down is retried for about half an hour; Temporal owns the retries (the provider
# client's own are off), so every attempt is in history.
CHANNEL_REPLY_SCHEDULE_TO_CLOSE = timedelta(minutes=30)
CHANNEL_REPLY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=12,
    non_retryable_error_types=["ChannelReplyRefused"],
)
