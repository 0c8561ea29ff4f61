"""The outbox's senders: SMTP to a real local server (aiosmtpd, the library `aiaas smtp` runs on), and the
development directory that `aiaas mail list` and `show` read."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from app.cli import main
from core.stack.ports import free_port
from tenancy.mail_delivery import DirectorySender, SmtpSender
from tenancy.signup_store import OutboxMessage


def _message(message_id: str = "m-1", to: str = "ada@example.com") -> OutboxMessage:
    return OutboxMessage(
        id=message_id,
        recipient=to,
        subject="Confirm your aiaas account for Acme",
        body="token: v1.abc.def\n",
        kind="signup.verify",
        status="queued",
        attempts=0,
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        sent_at=None,
    )


class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append((str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.content or b"")))
        return "250 OK"


async def test_smtp_sender_delivers_to_a_real_server() -> None:
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        sender = SmtpSender("127.0.0.1", controller.port, sender="aiaas <no-reply@aiaas.test>", starttls=False)
        await sender.send(_message())
    finally:
        controller.stop()
    [(mail_from, rcpt, raw)] = inbox.received
    assert mail_from == "no-reply@aiaas.test" and rcpt == ["ada@example.com"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Message-Id"] == "<m-1@aiaas>", "a receiver deduplicates a retried send by it"
    assert mail["Subject"] == "Confirm your aiaas account for Acme"
    assert "v1.abc.def" in mail.get_body().get_content()  # type: ignore[union-attr]


async def test_smtp_sender_raises_when_no_server_answers() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), sender="no-reply@aiaas.test", starttls=False)
    with pytest.raises(OSError):
        await asyncio.wait_for(sender.send(_message()), timeout=10)


async def test_directory_sender_and_the_mail_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sender = DirectorySender(tmp_path / "mail", sender="no-reply@aiaas.test")
    await sender.send(_message("m-1"))
    await sender.send(_message("m-1"))  # a retried send rewrites the same file
    await sender.send(_message("m-2", to="bob@example.org"))
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["m-1.eml", "m-2.eml"]

    assert main(["mail", "list", "--data-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "ada@example.com" in listing and "bob@example.org" in listing and "m-2" in listing
    assert main(["mail", "list", "--to", "bob@example.org", "--data-dir", str(tmp_path)]) == 0
    assert "ada@example.com" not in capsys.readouterr().out
    assert main(["mail", "show", "m-1", "--data-dir", str(tmp_path)]) == 0
    assert "v1.abc.def" in capsys.readouterr().out
    assert main(["mail", "show", "../m-1", "--data-dir", str(tmp_path)]) == 0, "a path names no other file"
    capsys.readouterr()
    assert main(["mail", "show", "nope", "--data-dir", str(tmp_path)]) == 1
