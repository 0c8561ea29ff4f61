"""Standard Webhooks signatures, made with the reference library (`standardwebhooks`).

A secret is `whsec_` followed by base64 of 24 random bytes. During a rotation an endpoint has two secrets
(the new one and, until it expires, the previous one) and every message is signed with both, space-separated
in `webhook-signature` as the specification allows, so a receiver still on the old secret keeps verifying
while it switches.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature_header(msg_id: str, timestamp: datetime, body: bytes, secret_list: Iterable[str]) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, newest first."""
    signatures = [Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body) for secret in secret_list]
    if not signatures:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(signatures)


def signed_headers(msg_id: str, timestamp: datetime, body: bytes, secret_list: Iterable[str]) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, and the content type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(msg_id, timestamp, body, secret_list),
        "content-type": "application/json",
    }
