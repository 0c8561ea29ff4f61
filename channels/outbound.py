"""A reply as the provider's API wants it: one HTTP request per kind, built without I/O.

The base URL is the channel's `provider_url` (the provider's public API unless a tenant points it elsewhere,
e.g. a regional endpoint or, in tests, a loopback receiver). Every request carries an `Idempotency-Key`, the
answered message's id: a provider that honours it drops a repeat, and the platform's own record of sent
replies (`channel_replies`) keeps a retried activity from sending twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from contracts.channels import ChannelKind

DEFAULT_PROVIDER_URLS = {
    ChannelKind.SMS: "https://api.twilio.com",
    ChannelKind.SLACK: "https://slack.com",
    ChannelKind.WHATSAPP: "https://graph.facebook.com",
    ChannelKind.EMAIL: "https://api.mailgun.net",
}
WHATSAPP_API_VERSION = "v21.0"


@dataclass(frozen=True)
class OutboundRequest:
    url: str
    headers: dict[str, str]
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    basic_auth: tuple[str | bytes, str | bytes] | None = field(default=None, repr=False)


def _seg(value: str) -> str:
    return quote(value, safe="")


def build_reply(
    kind: str,
    *,
    provider_url: str,
    settings: dict[str, Any],
    token: str,
    to: str,
    reply_to: str,
    text: str,
    idempotency_key: str,
) -> OutboundRequest:
    base = (provider_url or DEFAULT_PROVIDER_URLS[ChannelKind(kind)]).rstrip("/")
    headers = {"Idempotency-Key": idempotency_key}
    if kind == ChannelKind.SMS:
        account = str(settings.get("account_sid", ""))
        return OutboundRequest(
            url=f"{base}/2010-04-01/Accounts/{_seg(account)}/Messages.json",
            headers=headers,
            # Our number is the one the customer wrote to, kept with the identity; the setting is the fallback.
            form={"To": to, "From": reply_to or str(settings.get("from_number", "")), "Body": text},
            basic_auth=(account, token),
        )
    if kind == ChannelKind.SLACK:
        return OutboundRequest(
            url=f"{base}/api/chat.postMessage",
            headers={**headers, "Authorization": f"Bearer {token}"},
            json={"channel": reply_to or to, "text": text},
        )
    if kind == ChannelKind.WHATSAPP:
        phone_id = str(settings.get("phone_number_id", ""))
        return OutboundRequest(
            url=f"{base}/{WHATSAPP_API_VERSION}/{_seg(phone_id)}/messages",
            headers={**headers, "Authorization": f"Bearer {token}"},
            json={"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": text}},
        )
    if kind == ChannelKind.EMAIL:
        domain = str(settings.get("domain", ""))
        sender = str(settings.get("from_address", "")) or reply_to
        subject = str(settings.get("subject", "")) or "Re: your message"
        return OutboundRequest(
            url=f"{base}/v3/{_seg(domain)}/messages",
            headers=headers,
            form={"from": sender, "to": to, "subject": subject, "text": text},
            basic_auth=("api", token),
        )
    raise ValueError(f"channel kind {kind!r} sends no replies")
