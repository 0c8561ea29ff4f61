"""An invitation's token and address: the parts checked before any row is read.

A token is `inv_<tenant id>.<256 random bits>`, shown once; only its SHA-256 is stored (`token_sha256`). The
tenant id in it (`token_tenant`) says which tenant's rows to look in; anything malformed names no tenant. An
invited address is validated and its domain lower-cased (`normalise_email`); refusals carry the HTTP status,
a stable code and a sentence (`InvitationRefused`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from email_validator import EmailNotValidError, validate_email

PREFIX = "inv_"
MAX_TOKEN_CHARS = 200
MAX_EMAIL_CHARS = 254
_TOKEN = re.compile(r"^inv_([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")


class InvitationRefused(Exception):
    """What the API answers: an HTTP status, a stable code and a sentence."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def normalise_email(email: str) -> str:
    """The address as given, its domain in lower case; raises InvitationRefused (422) when it is not one."""
    if not isinstance(email, str) or not email.strip() or len(email) > MAX_EMAIL_CHARS:
        raise InvitationRefused(422, "invalid_email", f"an address of 1 to {MAX_EMAIL_CHARS} characters is needed")
    try:
        checked = validate_email(email.strip(), check_deliverability=False, allow_smtputf8=False)
    except (EmailNotValidError, UnicodeError) as exc:
        # UnicodeError: what a domain with an unpaired surrogate raises on its way to IDNA.
        raise InvitationRefused(422, "invalid_email", str(exc) or "that is not an address") from exc
    return f"{checked.local_part}@{checked.ascii_domain.lower()}"


def new_token(tenant_id: str) -> str:
    return f"{PREFIX}{tenant_id}.{secrets.token_urlsafe(32)}"


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_tenant(token: str) -> str | None:
    """The tenant a well-formed token names; None for anything else (which no row can match)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        return None
    found = _TOKEN.match(token)
    return found.group(1) if found else None
