"""Sending an outbox message: through SMTP when configured, else into `<data_dir>/mail/` (development).

Each message goes out with `Message-Id: <{outbox id}@aiaas>`, so a receiver can drop the duplicate a retry
after a lost reply may send. SMTP runs `smtplib` (standard library, STARTTLS and login when configured) in a
thread, so the worker's event loop never blocks on a slow mail server. The directory sender writes one
`.eml` file per message id, so a retry rewrites the same file; `aiaas mail list` reads them.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

from core.settings import Settings
from tenancy.signup_store import OutboxMessage

SMTP_TIMEOUT_SECONDS = 30.0


class MailSender(Protocol):
    async def send(self, message: OutboxMessage) -> None: ...


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.recipient
    mail["Subject"] = message.subject
    mail["Message-Id"] = f"<{message.id}@aiaas>"
    mail["Date"] = format_datetime(message.created_at)
    mail["X-Aiaas-Kind"] = message.kind
    mail.set_content(message.body)
    return mail


class SmtpSender:
    def __init__(
        self, host: str, port: int, *, sender: str, username: str = "", password: str = "", starttls: bool = True
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._starttls = username, password, starttls

    def _send_blocking(self, mail: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(mail, from_addr=parseaddr(self._sender)[1])

    async def send(self, message: OutboxMessage) -> None:
        await asyncio.to_thread(self._send_blocking, build_email(message, self._sender))


class DirectorySender:
    def __init__(self, directory: Path, *, sender: str) -> None:
        self._dir, self._sender = directory, sender

    async def send(self, message: OutboxMessage) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._dir / f"{message.id}.eml"
        partial = path.with_suffix(".tmp")
        partial.write_bytes(bytes(build_email(message, self._sender)))
        partial.replace(path)


def build_sender(settings: Settings) -> MailSender:
    if settings.mail_smtp_host:
        return SmtpSender(
            settings.mail_smtp_host,
            settings.mail_smtp_port,
            sender=settings.mail_from,
            username=settings.mail_smtp_username,
            password=settings.mail_smtp_password.get_secret_value(),
            starttls=settings.mail_smtp_starttls,
        )
    return DirectorySender(mail_dir(settings), sender=settings.mail_from)


def mail_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "mail"
