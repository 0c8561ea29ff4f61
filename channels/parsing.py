"""Provider payloads to `InboundMessage`s, after the signature held; anything malformed is `PayloadRejected`.

Only what a conversation needs is read: who wrote, what (with the files that came, `channels.media`), the
provider's message id (the deduplication key) and where a reply goes. Events that are not a customer's
message (Slack bot echoes and edits, WhatsApp delivery statuses) parse to nothing and are acknowledged
without starting anything.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from pydantic import ValidationError

from channels.media import named_files, slack_files, twilio_media, whatsapp_media
from contracts.channels import ChannelKind, InboundMessage

# Meta retries a webhook for up to seven days; a message older than that cannot be a retry, only a replay.
WHATSAPP_MAX_AGE_SECONDS = 7 * 24 * 3600 + 3600


class PayloadRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SlackChallenge:
    challenge: str


def _message(**fields: Any) -> InboundMessage:
    try:
        return InboundMessage(**fields)
    except ValidationError as exc:
        fields_wrong = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")})
        raise PayloadRejected("payload_invalid", f"the payload's {', '.join(fields_wrong)} is not valid") from None


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadRejected("malformed_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise PayloadRejected("payload_invalid", "the request body is not a JSON object")
    return data


def parse_twilio(form: Mapping[str, str]) -> InboundMessage:
    return _message(
        kind=ChannelKind.SMS,
        provider_message_id=form.get("MessageSid") or form.get("SmsMessageSid") or "",
        sender=form.get("From", ""),
        text=form.get("Body", ""),
        reply_to=form.get("To", ""),
        attachments=twilio_media(form),
    )


def parse_slack(body: bytes) -> SlackChallenge | InboundMessage | None:
    data = _json(body)
    kind = data.get("type")
    if kind == "url_verification":
        challenge = data.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise PayloadRejected("payload_invalid", "url_verification carries no challenge")
        return SlackChallenge(challenge)
    if kind != "event_callback":
        return None
    event = data.get("event")
    if not isinstance(event, dict) or event.get("type") not in ("message", "app_mention"):
        return None
    # A bot's own post (our replies among them), an edit or a deletion is not a customer writing; a file
    # shared with or without a comment is.
    if event.get("bot_id") or event.get("subtype") not in (None, "file_share"):
        return None
    return _message(
        kind=ChannelKind.SLACK,
        # The event id is what Slack repeats on a retry (with X-Slack-Retry-Num); a message's ts is not unique
        # across channels.
        provider_message_id=str(data.get("event_id") or ""),
        sender=str(event.get("user") or ""),
        text=str(event.get("text") or ""),
        reply_to=str(event.get("channel") or ""),
        attachments=slack_files(event.get("files")),
    )


def parse_whatsapp(body: bytes, now: float) -> list[InboundMessage]:
    data = _json(body)
    if data.get("object") != "whatsapp_business_account":
        raise PayloadRejected("payload_invalid", "not a WhatsApp Business Account notification")
    found: list[InboundMessage] = []
    for entry in data.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            for msg in value.get("messages") or []:
                if not isinstance(msg, dict):
                    continue
                media = whatsapp_media(msg)
                if msg.get("type") != "text" and media is None:
                    continue  # reactions, locations and the like are not handled; statuses are not messages
                sent = msg.get("timestamp")
                if sent is not None and str(sent).isdigit() and now - int(sent) > WHATSAPP_MAX_AGE_SECONDS:
                    raise PayloadRejected("timestamp_expired", "the message is older than Meta's retry window")
                found.append(
                    _message(
                        kind=ChannelKind.WHATSAPP,
                        provider_message_id=str(msg.get("id") or ""),
                        sender=str(msg.get("from") or ""),
                        text=media[0] if media else str((msg.get("text") or {}).get("body") or ""),
                        attachments=media[1] if media else (),
                    )
                )
    return found


def parse_mailgun(form: Mapping[str, str], files: Sequence[tuple[str, str]] = ()) -> InboundMessage:
    """A Mailgun delivery; `files` are its attachments as (file name, media type)."""
    _, address = parseaddr(form.get("sender") or form.get("from") or "")
    text = form.get("stripped-text") or form.get("body-plain") or ""
    return _message(
        kind=ChannelKind.EMAIL,
        provider_message_id=form.get("Message-Id") or form.get("message-id") or "",
        sender=address.lower(),
        text=text.strip(),
        reply_to=form.get("recipient", ""),
        subject=form.get("subject", "")[:500],
        attachments=named_files(files),
    )
