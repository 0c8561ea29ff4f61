"""`aiaas mail`: the messages the platform sent in development, where no SMTP server is configured.

The outbox's sender writes each message to `<data_dir>/mail/<id>.eml`; `list` shows them newest first (date,
recipient, subject, id) and `show ID` prints one whole, headers and body (a signup's verification token).
"""

from __future__ import annotations

import argparse
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from app.cli_context import add_data_dir, load_settings, table


def add_mail_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("mail", help="list or show the mail sent in development (no SMTP configured)")
    mail_sub = parser.add_subparsers(dest="mail_command", required=True)
    listing = mail_sub.add_parser("list", help="the messages under <data dir>/mail, newest first")
    listing.add_argument("--to", default=None, help="only messages to this address")
    add_data_dir(listing)
    listing.set_defaults(func=_list)
    show = mail_sub.add_parser("show", help="print one message, headers and body")
    show.add_argument("message_id", help="the message id `aiaas mail list` shows")
    add_data_dir(show)
    show.set_defaults(func=_show)


def _mail_dir(args: argparse.Namespace) -> Path:
    from tenancy.mail_delivery import mail_dir

    return mail_dir(load_settings(args.data_dir))


def _read(path: Path) -> EmailMessage:
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def messages(directory: Path) -> list[tuple[str, EmailMessage]]:
    """(id, message) of every sent message, newest first."""
    found = [(path.stem, _read(path)) for path in directory.glob("*.eml")] if directory.is_dir() else []
    return sorted(found, key=lambda item: (parsedate_to_datetime(str(item[1]["Date"])), item[0]), reverse=True)


def _list(args: argparse.Namespace) -> int:
    rows = [
        [str(mail["Date"]), str(mail["To"]), str(mail["Subject"]), message_id]
        for message_id, mail in messages(_mail_dir(args))
        if args.to is None or str(mail["To"]).lower() == args.to.lower()
    ]
    if not rows:
        print("no mail")
        return 0
    print(table(["date", "to", "subject", "id"], rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    name = Path(args.message_id).name
    path = _mail_dir(args) / f"{name}.eml"
    if not path.is_file():
        print(f"no message {name}")
        return 1
    print(path.read_text())
    return 0
