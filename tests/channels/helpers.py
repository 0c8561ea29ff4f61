"""Building and signing provider deliveries against the running platform, and a loopback provider."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import httpx

from channels import signatures
from tests.webhooks.receiver import Receiver

SMS_TOKEN = "twilio-auth-token-0001"
SLACK_SECRET = "slack-signing-secret-0001"
SLACK_BOT = "xoxb-bot-token-0001"
META_SECRET = "meta-app-secret-0001"
META_TOKEN = "whatsapp-access-token-0001"
MAILGUN_KEY = "mailgun-signing-key-0001"
MAILGUN_API = "mailgun-api-key-0001"


def always(status: int) -> Callable[[str, int, dict[str, str]], tuple[int, dict[str, str]]]:
    return lambda path, nth, headers: (status, {})


def fail_first(path: str, nth: int, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    return (503, {}) if nth == 1 else (200, {})


def make_channel(api: httpx.Client, kind: str, receiver: Receiver | None = None, **body: object) -> dict:
    payload: dict[str, object] = {"kind": kind, "name": f"{kind} {uuid.uuid4().hex[:6]}", "agent": "support", **body}
    if receiver is not None:
        payload["provider_url"] = receiver.url("")
    response = api.post("/v1/channels", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def post_sms(
    base_url: str,
    channel: dict,
    sid: str,
    text: str,
    *,
    token: str = SMS_TOKEN,
    sender: str = "+15551230001",
    tamper: Callable[[dict[str, str]], None] | None = None,
    sign: bool = True,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    url = base_url + channel["inbound_url"]
    form = {"MessageSid": sid, "From": sender, "To": "+15559990000", "Body": text, "AccountSid": "AC1", **(extra or {})}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if sign:
        headers["X-Twilio-Signature"] = signatures.twilio_signature(token, url, form.items())
    if tamper:
        tamper(form)
    return httpx.post(url, content=urlencode(form), headers=headers, timeout=30)


def slack_body(event_id: str, text: str, *, user: str = "U0001", channel: str = "D0001") -> bytes:
    event = {"type": "message", "user": user, "text": text, "channel": channel, "ts": "1.0"}
    return json.dumps({"type": "event_callback", "event_id": event_id, "event": event}).encode()


def post_slack(
    base_url: str,
    channel: dict,
    body: bytes,
    *,
    secret: str = SLACK_SECRET,
    age: float = 0.0,
    sent: bytes | None = None,
) -> httpx.Response:
    ts = str(int(time.time() - age))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signatures.slack_signature(secret, ts, body),
    }
    return httpx.post(
        base_url + channel["inbound_url"], content=sent if sent is not None else body, headers=headers, timeout=30
    )


def whatsapp_body(wamid: str, text: str, *, sender: str = "15551230002", sent_at: float | None = None) -> bytes:
    msg = {
        "from": sender,
        "id": wamid,
        "timestamp": str(int(sent_at or time.time())),
        "type": "text",
        "text": {"body": text},
    }
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "PN1"}, "messages": [msg]}
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "W1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def post_whatsapp(
    base_url: str, channel: dict, body: bytes, *, secret: str = META_SECRET, sent: bytes | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signatures.meta_signature(secret, body)}
    return httpx.post(
        base_url + channel["inbound_url"], content=sent if sent is not None else body, headers=headers, timeout=30
    )


def post_mailgun(
    base_url: str,
    channel: dict,
    message_id: str,
    text: str,
    *,
    key: str = MAILGUN_KEY,
    age: float = 0.0,
    tamper: Callable[[dict[str, str]], None] | None = None,
) -> httpx.Response:
    ts, token = str(int(time.time() - age)), uuid.uuid4().hex
    form = {
        "sender": "ada@example.com",
        "recipient": "help@support.example",
        "subject": "Where is my parcel",
        "stripped-text": text,
        "Message-Id": message_id,
        "timestamp": ts,
        "token": token,
        "signature": signatures.mailgun_signature(key, ts, token),
    }
    if tamper:
        tamper(form)
    return httpx.post(base_url + channel["inbound_url"], data=form, timeout=30)


def wait_for(receiver: Receiver, count: int, path_part: str, timeout: float = 45.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in receiver.received if path_part in r.path]
        if len(found) >= count:
            return found
        time.sleep(0.2)
    return [r for r in receiver.received if path_part in r.path]


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def as_provider(send: Callable[[], httpx.Response], attempts: int = 4) -> httpx.Response:
    """Deliver as a provider does: a 503 (the run did not confirm in time, e.g. a cold worker) is retried with
    the same message id; the claim it left was given back, so the retry is taken, and still only once."""
    response = send()
    for _ in range(attempts - 1):
        if response.status_code != 503:
            break
        time.sleep(1.0)
        response = send()
    return response
