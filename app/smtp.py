"""`aiaas smtp`: a development SMTP receiver that delivers mail to email channels (`aiaas up --smtp`).

For a machine without a mail provider: mail sent to `<tenant id hex>.<channel id hex>@<any domain>` (the
`smtp_address` of an email channel) becomes an inbound email the way a Mailgun delivery does, through the same
pipeline (`api.channel_inbound`): deduplicated by its `Message-Id`, mapped to the sender's customer and
submitted to the conversation's run. SMTP carries no provider signature, so this receiver is for
development only: it listens on the loopback address unless told otherwise. It is aiosmtpd's SMTP protocol
(Apache-2.0) on this process's own event loop, so the database pool and Temporal client serve it directly.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError
from redis.asyncio import Redis

from api.admission.plans import PlanCache
from api.admission.starts import StartAdmission
from api.channel_inbound import InboundPipeline
from api.conversation_runs import submit
from api.schemas import ConversationOut, MessageCreate
from channels import store
from channels.media import message_text, named_files
from contracts.channels import ChannelKind, InboundMessage
from core.logging import configure_logging
from core.redis_clients import command_client
from core.settings import Settings, get_settings
from db.codec import connect
from db.database import Database
from db.regions import open_database

log = structlog.get_logger("aiaas.smtp")
MAX_MESSAGE_BYTES = 1_048_576


def mailbox(address: str) -> tuple[str, str] | None:
    """(tenant id, channel id) of `<tenant hex>.<channel hex>@domain`, or None."""
    local = address.rpartition("@")[0].lower()
    tenant, _, channel = local.partition(".")
    try:
        return str(uuid.UUID(hex=tenant)), str(uuid.UUID(hex=channel))
    except ValueError:
        return None


def inbound_of(raw: bytes, envelope_from: str) -> InboundMessage:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    body = mail.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    files = [(part.get_filename() or "", part.get_content_type()) for part in mail.iter_attachments()]
    sender = parseaddr(str(mail.get("From") or envelope_from))[1] or envelope_from
    return InboundMessage(
        kind=ChannelKind.EMAIL,
        provider_message_id=str(mail.get("Message-Id") or "").strip(),
        sender=sender.lower(),
        text=str(text).strip(),
        subject=str(mail.get("Subject") or "")[:500],
        attachments=named_files(files),
    )


class ChannelMailHandler:
    """aiosmtpd's handler hooks: refuse unknown mailboxes at RCPT, deliver at DATA."""

    def __init__(self, db: Database, pipeline: InboundPipeline) -> None:
        self._db = db
        self._pipeline = pipeline

    # aiosmtpd calls its hooks by these names.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if mailbox(address) is None:
            return "550 5.1.1 not an email channel's address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        try:
            msg = inbound_of(raw, str(envelope.mail_from or ""))
        except (ValidationError, LookupError, ValueError):
            return "550 5.6.0 the message has no Message-Id, sender or text"
        if not message_text(msg):
            return "550 5.6.0 the message has no text and no attachment"
        for address in envelope.rcpt_tos:
            found = mailbox(address)
            assert found is not None  # checked at RCPT
            tenant_id, channel_id = found
            async with self._db.tenant_session(tenant_id) as s:
                channel = await store.get_channel(s, channel_id)
            if channel is None or not channel.enabled or channel.kind != ChannelKind.EMAIL:
                return "550 5.1.1 no such email channel"
            try:
                delivered = await self._pipeline.deliver(tenant_id, channel, msg)
            except Exception:  # the claim was given back; the sending server retries on a 4xx
                log.warning("smtp delivery failed", channel_id=channel_id)
                return "451 4.3.0 the conversation did not take the message; try again later"
            log.info("smtp delivered", channel_id=channel_id, outcome=delivered.outcome)
        return "250 Message accepted"


def build_pipeline(db: Database, temporal: Any, settings: Settings, redis: Redis) -> InboundPipeline:
    """Mail starts turns through the tenant's start rate (shared with the gateways in Redis) and a fair start
    queue of this process, waiting out refusals like a channel webhook; a start still refused after that
    patience is a 451, which the sending server retries later."""
    plans = PlanCache(db, settings.admission_plan_cache_seconds)
    starts = StartAdmission(settings, redis)

    async def to_run(tenant_id: str, conversation: ConversationOut, message_id: str, body: MessageCreate) -> bool:
        plan = await plans.plan_of(tenant_id)
        async with starts.patient_slot(plan, settings.channel_start_patience_seconds):
            return (await submit(temporal, settings, tenant_id, conversation, message_id, body)).duplicate

    return InboundPipeline(db, to_run)


async def start_server(handler: ChannelMailHandler, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_MESSAGE_BYTES, hostname="aiaas.localhost"), host, port
    )


async def serve(settings: Settings, host: str, port: int) -> None:
    db = open_database(settings)
    temporal = await connect(settings, db=db)
    redis = command_client(settings)
    server = await start_server(ChannelMailHandler(db, build_pipeline(db, temporal, settings, redis)), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log.info("smtp receiver listening", host=host, port=port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        await redis.aclose()
        await db.close()


def add_smtp_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("smtp", help="run the development SMTP receiver for email channels")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: AIAAS_SMTP_PORT)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    settings = get_settings().require()
    configure_logging(settings.log_level, json_output=settings.log_json)
    port = args.port if args.port is not None else settings.smtp_port
    if not port:
        raise RuntimeError("give the SMTP port with --port or AIAAS_SMTP_PORT")
    asyncio.run(serve(settings, args.host, port))
    return 0
