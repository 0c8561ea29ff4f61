"""Inbound deliveries on the running platform: each provider's signature accepted, forged, altered, expired
and replayed; an SMS and a Slack message reach a conversation (channel, customer, `Channel` search attribute)
and the answer reaches the loopback provider exactly once."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from urllib.parse import parse_qs

import httpx
from temporalio.client import Client

from tests.channels import helpers as h
from tests.e2e.platform import Platform
from tests.webhooks.receiver import Receiver


def _conversation(api: httpx.Client, conversation_id: str, turns: int = 1, timeout: float = 45.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        detail = api.get(f"/v1/conversations/{conversation_id}").json()
        if (
            sum(1 for m in detail.get("messages", []) if m["role"] == "assistant") >= turns
            or time.monotonic() > deadline
        ):
            return detail
        time.sleep(0.3)


def _count_runs(platform: Platform, tenant_id: str, channel: str) -> int:
    async def count() -> int:
        client = await Client.connect(platform.settings.temporal_address or "")
        result = await client.count_workflows(f'TenantId = "{tenant_id}" AND Channel = "{channel}"')
        return result.count

    return asyncio.run(count())


def test_sms_reaches_a_conversation_and_is_answered_once(
    platform: Platform, api: httpx.Client, tenant_a: tuple[str, str]
) -> None:
    with Receiver(plan=h.always(201)) as provider:
        channel = h.make_channel(api, "sms", provider, secret=h.SMS_TOKEN, settings={"account_sid": "AC1"})
        base, sid = platform.base_url, f"SM{uuid.uuid4().hex}"

        unsigned = h.post_sms(base, channel, sid, "hi", sign=False)
        assert unsigned.status_code == 401 and h.error_code(unsigned) == "signature_missing"
        forged = h.post_sms(base, channel, sid, "hi", token="not-the-auth-token")
        assert forged.status_code == 401 and h.error_code(forged) == "signature_invalid"
        altered = h.post_sms(base, channel, sid, "hi", tamper=lambda f: f.update(Body="refund everything"))
        assert altered.status_code == 401 and h.error_code(altered) == "signature_invalid"

        accepted = h.as_provider(lambda: h.post_sms(base, channel, sid, "where is my parcel"))
        assert accepted.status_code == 200, accepted.text
        replayed = h.post_sms(base, channel, sid, "where is my parcel")
        assert replayed.status_code == 409 and h.error_code(replayed) == "duplicate_delivery"

        sent = h.wait_for(provider, 1, "/Messages.json")
        time.sleep(1.5)  # room for a second send, which must not come
        sent = [r for r in provider.received if "/Messages.json" in r.path]
        assert len(sent) == 1
        form = parse_qs(sent[0].body.decode())
        assert sent[0].path == "/2010-04-01/Accounts/AC1/Messages.json"
        assert form == {"To": ["+15551230001"], "From": ["+15559990000"], "Body": ["echo: where is my parcel"]}
        assert sent[0].headers["authorization"].startswith("Basic ") and sent[0].headers["idempotency-key"]

    conversations = api.get("/v1/conversations", params={"limit": 200}).json()["items"]
    mine = [
        c
        for c in conversations
        if c["channel"] == "sms" and (c.get("metadata") or {}).get("channel_id") == channel["id"]
    ]
    assert len(mine) == 1
    detail = _conversation(api, mine[0]["id"])
    assert detail["customer_id"]
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", "where is my parcel"),
        ("assistant", "echo: where is my parcel"),
    ]
    customer = api.get(f"/v1/customers/{detail['customer_id']}").json()
    assert customer["phone"] == "+15551230001"
    assert _count_runs(platform, tenant_a[0], "sms") >= 1


def test_a_photo_sent_without_text_is_answered(platform: Platform, api: httpx.Client) -> None:
    """An MMS with a photo and no text reaches the conversation as a line saying what came, and is answered;
    the provider's link to the photo is stored nowhere."""
    photo = {"NumMedia": "1", "MediaContentType0": "image/jpeg", "MediaUrl0": "https://api.twilio.com/Media/ME1"}
    with Receiver(plan=h.always(201)) as provider:
        channel = h.make_channel(api, "sms", provider, secret=h.SMS_TOKEN, settings={"account_sid": "AC1"})
        sid, sender = f"MM{uuid.uuid4().hex}", "+15551230077"
        accepted = h.post_sms(platform.base_url, channel, sid, "", sender=sender, extra=photo)
        assert accepted.status_code == 200, accepted.text
        h.wait_for(provider, 1, "/Messages.json")
        sent = [r for r in provider.received if "/Messages.json" in r.path]
        assert parse_qs(sent[0].body.decode())["Body"] == ["echo: [the customer attached an image (image/jpeg)]"]
        # Nothing at all (no text, no file) is still refused and starts nothing.
        empty = h.post_sms(platform.base_url, channel, f"SM{uuid.uuid4().hex}", "", sender=sender)
        assert empty.status_code == 422 and h.error_code(empty) == "message_empty"
    conversations = api.get("/v1/conversations", params={"limit": 200}).json()["items"]
    (mine,) = [c for c in conversations if (c.get("metadata") or {}).get("channel_id") == channel["id"]]
    detail = _conversation(api, mine["id"])
    assert detail["messages"][0]["content"] == "[the customer attached an image (image/jpeg)]"
    assert "twilio.com" not in json.dumps(detail)


def test_slack_verifies_the_url_answers_and_refuses_old_or_repeated_requests(
    platform: Platform, api: httpx.Client
) -> None:
    with Receiver(plan=h.fail_first) as provider:
        channel = h.make_channel(api, "slack", provider, secret=h.SLACK_SECRET, token=h.SLACK_BOT)
        base = platform.base_url

        challenge = json.dumps({"type": "url_verification", "token": "t", "challenge": "ch-42"}).encode()
        assert h.post_slack(base, channel, challenge).json() == {"challenge": "ch-42"}
        forged_challenge = h.post_slack(base, channel, challenge, secret="wrong-secret-000")
        assert forged_challenge.status_code == 401

        event_id = f"Ev{uuid.uuid4().hex[:10]}"
        body = h.slack_body(event_id, "hello from slack")
        old = h.post_slack(base, channel, body, age=600)
        assert old.status_code == 401 and h.error_code(old) == "timestamp_expired"
        forged = h.post_slack(base, channel, body, secret="wrong-secret-000")
        assert forged.status_code == 401 and h.error_code(forged) == "signature_invalid"
        altered = h.post_slack(base, channel, body, sent=body.replace(b"hello", b"HELLO"))
        assert altered.status_code == 401 and h.error_code(altered) == "signature_invalid"

        assert h.as_provider(lambda: h.post_slack(base, channel, body)).status_code == 200
        # Slack's own retry of the same event (a fresh timestamp, the same event_id) starts nothing.
        retried = h.post_slack(base, channel, body)
        assert retried.status_code == 409 and h.error_code(retried) == "duplicate_delivery"

        # The provider fails the first reply with 503; Temporal retries it and it lands once.
        h.wait_for(provider, 2, "/api/chat.postMessage")
        time.sleep(2.5)
        posts = [r for r in provider.received if r.path == "/api/chat.postMessage"]
        assert [r.status for r in posts] == [503, 200]
        assert {r.headers["idempotency-key"] for r in posts} == {posts[0].headers["idempotency-key"]}
        assert posts[1].headers["authorization"] == f"Bearer {h.SLACK_BOT}"
        assert json.loads(posts[1].body) == {"channel": "D0001", "text": "echo: hello from slack"}


def test_whatsapp_handshake_and_signatures(platform: Platform, api: httpx.Client) -> None:
    with Receiver(plan=h.always(200)) as provider:
        channel = h.make_channel(
            api,
            "whatsapp",
            provider,
            secret=h.META_SECRET,
            token=h.META_TOKEN,
            verify_token="verify-me-please",
            settings={"phone_number_id": "PN1"},
        )
        base, url = platform.base_url, platform.base_url + channel["inbound_url"]
        params = {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1158201444"}
        handshake = httpx.get(url, params=params)
        assert handshake.status_code == 200 and handshake.text == "1158201444"
        wrong = httpx.get(url, params={**params, "hub.verify_token": "guess"})
        assert wrong.status_code == 403 and h.error_code(wrong) == "verify_token_mismatch"

        wamid = f"wamid.{uuid.uuid4().hex}"
        body = h.whatsapp_body(wamid, "hola")
        assert h.post_whatsapp(base, channel, body, secret="not-the-app-secret").status_code == 401
        altered = h.post_whatsapp(base, channel, body, sent=body.replace(b"hola", b"adios"))
        assert altered.status_code == 401 and h.error_code(altered) == "signature_invalid"
        unsigned = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        assert unsigned.status_code == 401 and h.error_code(unsigned) == "signature_missing"
        stale = h.whatsapp_body(f"wamid.{uuid.uuid4().hex}", "old", sent_at=time.time() - 9 * 24 * 3600)
        expired = h.post_whatsapp(base, channel, stale)
        assert expired.status_code == 401 and h.error_code(expired) == "timestamp_expired"
        assert h.as_provider(lambda: h.post_whatsapp(base, channel, body)).status_code == 200
        assert h.post_whatsapp(base, channel, body).status_code == 409

        sent = h.wait_for(provider, 1, "/messages")
        assert sent[0].path == "/v21.0/PN1/messages"
        assert json.loads(sent[0].body)["to"] == "15551230002"


def test_mailgun_email_signatures(platform: Platform, api: httpx.Client) -> None:
    with Receiver(plan=h.always(200)) as provider:
        channel = h.make_channel(
            api, "email", provider, secret=h.MAILGUN_KEY, token=h.MAILGUN_API, settings={"domain": "support.example"}
        )
        base, mid = platform.base_url, f"<{uuid.uuid4().hex}@mail.example>"
        forged = h.post_mailgun(base, channel, mid, "hello", key="not-the-signing-key")
        assert forged.status_code == 401 and h.error_code(forged) == "signature_invalid"
        expired = h.post_mailgun(base, channel, mid, "hello", age=3600)
        assert expired.status_code == 401 and h.error_code(expired) == "timestamp_expired"
        unsigned = h.post_mailgun(base, channel, mid, "hello", tamper=lambda f: f.pop("signature"))
        assert unsigned.status_code == 401 and h.error_code(unsigned) == "signature_missing"
        assert h.as_provider(lambda: h.post_mailgun(base, channel, mid, "hello by mail")).status_code == 200
        # Mailgun's retry carries a new timestamp and token, signed anew, and the same Message-Id.
        replayed = h.post_mailgun(base, channel, mid, "hello by mail")
        assert replayed.status_code == 409 and h.error_code(replayed) == "duplicate_delivery"

        sent = h.wait_for(provider, 1, "/messages")
        form = parse_qs(sent[0].body.decode())
        assert sent[0].path == "/v3/support.example/messages"
        assert form["to"] == ["ada@example.com"] and form["text"] == ["echo: hello by mail"]
