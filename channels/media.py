"""Files that come with a customer's message: photos over MMS or WhatsApp, files shared in Slack, email
attachments.

The platform's agents read text, so a file reaches the conversation as a line that says what came
(`[the customer attached an image: receipt.jpg (image/jpeg)]`) after the message's own text or caption. Without
it a photo sent with no text was lost: Twilio's empty body was refused, WhatsApp's image skipped, Slack's file
share taken for an edit, and the customer got no answer at all. What is kept of a file is its kind, media type
and the name the sender gave, each cut to a safe alphabet and length; never its content, and never the
provider's link to it, which carries the provider's account in the URL and needs its credentials to open.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from contracts.channels import Attachment, InboundMessage

# Most files a message may list; a provider's larger count is cut here.
MAX_ATTACHMENTS = 10
MAX_NAME_CHARS = 100
_MIME = re.compile(r"^[a-z0-9][a-z0-9.+-]{0,62}/[a-z0-9][a-z0-9.+-]{0,62}$")
# A name is the sender's text: no brackets or line breaks, which would let it pass for the platform's own line.
_NAME_UNSAFE = re.compile(r"[^\w .,()+@&-]")
_KINDS = {"image": "image", "audio": "audio recording", "video": "video"}


def attachment(mime_type: object, name: object = "", kind: str | None = None) -> Attachment:
    """An attachment from a provider's fields, whatever they hold: an invalid media type becomes empty."""
    mime = str(mime_type or "").strip().lower().split(";")[0].strip()
    if not _MIME.match(mime):
        mime = ""
    clean = _NAME_UNSAFE.sub("_", str(name or "")).strip()[:MAX_NAME_CHARS]
    return Attachment(kind=kind or _KINDS.get(mime.partition("/")[0], "file"), mime_type=mime, name=clean)


def describe(item: Attachment) -> str:
    what = f"{'an' if item.kind[:1] in 'aeiou' else 'a'} {item.kind}"
    if item.name:
        what += f": {item.name}"
    if item.mime_type:
        what += f" ({item.mime_type})"
    return f"[the customer attached {what}]"


def message_text(msg: InboundMessage) -> str:
    """What the conversation receives: the message's text, then one line per attachment."""
    lines = [msg.text.strip()] if msg.text.strip() else []
    lines += [describe(item) for item in msg.attachments]
    return "\n".join(lines)


def twilio_media(form: Mapping[str, str]) -> tuple[Attachment, ...]:
    """Twilio's `NumMedia` and `MediaContentType{i}` (the `MediaUrl{i}` links are not kept)."""
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError:
        count = 0
    count = max(0, min(count, MAX_ATTACHMENTS))
    return tuple(attachment(form.get(f"MediaContentType{i}")) for i in range(count))


def whatsapp_media(msg: Mapping[str, Any]) -> tuple[str, tuple[Attachment, ...]] | None:
    """(caption, attachments) of a WhatsApp media message, or None for a type that is not one."""
    kind = msg.get("type")
    if kind not in ("image", "audio", "video", "document", "sticker"):
        return None
    media = msg.get(kind)
    media = media if isinstance(media, dict) else {}
    label = {"document": "document", "sticker": "sticker"}.get(str(kind))
    item = attachment(media.get("mime_type"), media.get("filename", ""), kind=label)
    return str(media.get("caption") or ""), (item,)


def slack_files(files: object) -> tuple[Attachment, ...]:
    if not isinstance(files, list):
        return ()
    found = [attachment(f.get("mimetype"), f.get("name", "")) for f in files if isinstance(f, dict)]
    return tuple(found[:MAX_ATTACHMENTS])


def named_files(files: Iterable[tuple[str, str]]) -> tuple[Attachment, ...]:
    """Attachments from (file name, media type) pairs: a mail's parts, a form's uploaded files."""
    return tuple(attachment(mime, name) for name, mime in list(files)[:MAX_ATTACHMENTS])
