"""The development SMTP receiver: mail to an email channel's address becomes one message in the sender's
conversation (a resent copy with the same Message-Id starts nothing), and unknown mailboxes are refused."""

from __future__ import annotations

import asyncio
import smtplib
import time
import uuid
from email.message import EmailMessage

import httpx
import pytest

from app.smtp import ChannelMailHandler, build_pipeline, start_server
from core.redis_clients import command_client
from core.stack.ports import free_port
from db.codec import connect
from db.database import Database
from tests.channels import helpers as h
from tests.e2e.platform import Platform
from tests.webhooks.receiver import Receiver


def _send(port: int, to: str, message_id: str, text: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"], mail["Message-Id"] = "Grace <grace@example.com>", to, "Order", message_id
    mail.set_content(text)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(mail)


async def test_mail_becomes_one_message_and_is_answered(platform: Platform, api: httpx.Client) -> None:
    with Receiver(plan=h.always(200)) as provider:
        channel = h.make_channel(
            api, "email", provider, secret=h.MAILGUN_KEY, token=h.MAILGUN_API, settings={"domain": "shop.example"}
        )
        address = f"{channel['smtp_address']}@aiaas.localhost"
        db = Database(platform.settings.resolved_app_database_url())
        temporal = await connect(platform.settings, db=db)
        redis = command_client(platform.settings)
        port = free_port()
        server = await start_server(
            ChannelMailHandler(db, build_pipeline(db, temporal, platform.settings, redis)), "127.0.0.1", port
        )
        try:
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                await asyncio.to_thread(_send, port, "nobody@aiaas.localhost", "<x@y>", "hi")
            message_id = f"<{uuid.uuid4().hex}@example.com>"
            await asyncio.to_thread(_send, port, address, message_id, "where is my order")
            await asyncio.to_thread(_send, port, address, message_id, "where is my order")  # resent: nothing new

            deadline = time.monotonic() + 45
            while not h.wait_for(provider, 1, "/messages", timeout=0.1) and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
        finally:
            server.close()
            await server.wait_closed()
            await redis.aclose()
            await db.close()
        sent = [r for r in provider.received if r.path == "/v3/shop.example/messages"]
        assert len(sent) == 1 and b"echo%3A+where+is+my+order" in sent[0].body
        assert b"grace%40example.com" in sent[0].body
