"""Each provider's webhook signature, checked on the raw request as the provider signed it.

Every check compares in constant time (`hmac.compare_digest`) and raises `SignatureRejected` with a stable
code: `signature_missing`, `signature_invalid` or `timestamp_expired`. What each scheme covers:

- Twilio (`X-Twilio-Signature`): base64 HMAC-SHA1 under the account's auth token of the full URL Twilio
  called, followed by every form parameter's name and value, sorted by name. No timestamp: a replay is caught
  by the MessageSid deduplication.
- Slack (`X-Slack-Signature`, `X-Slack-Request-Timestamp`): `v0=` hex HMAC-SHA256 under the app's signing
  secret of `v0:{timestamp}:{raw body}`; a timestamp more than five minutes from now is refused.
- WhatsApp Cloud API (`X-Hub-Signature-256`): `sha256=` hex HMAC-SHA256 under the Meta app secret of the
  raw body. No timestamp header; the messages' own timestamps are checked in `channels.parsing`.
- Mailgun inbound routes (form fields `timestamp`, `token`, `signature`): hex HMAC-SHA256 under the
  webhook signing key of `timestamp + token`; the same five-minute window as Slack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

# Slack's own recommendation, and Mailgun's timestamps are as fresh (made per attempt).
REPLAY_WINDOW_SECONDS = 300


class SignatureRejected(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _require(value: str | None, name: str) -> str:
    if not value:
        raise SignatureRejected("signature_missing", f"the request carries no {name}")
    return value


def _equal(expected: str, given: str, what: str) -> None:
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise SignatureRejected("signature_invalid", f"the {what} does not match the request")


def _fresh(timestamp: str, now: float, what: str) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureRejected("signature_invalid", f"the {what} is not a number of seconds") from None
    if abs(now - sent) > REPLAY_WINDOW_SECONDS:
        raise SignatureRejected(
            "timestamp_expired", f"the {what} is more than {REPLAY_WINDOW_SECONDS} seconds from the server's clock"
        )


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    # Sorted by name; a repeated name keeps its values in sorted order too (Twilio's own validator does so).
    payload = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def verify_twilio(auth_token: str, url: str, params: Iterable[tuple[str, str]], header: str | None) -> None:
    given = _require(header, "X-Twilio-Signature header")
    _equal(twilio_signature(auth_token, url, params), given, "X-Twilio-Signature")


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def verify_slack(signing_secret: str, body: bytes, timestamp: str | None, header: str | None, now: float) -> None:
    given = _require(header, "X-Slack-Signature header")
    sent = _require(timestamp, "X-Slack-Request-Timestamp header")
    # The window first: an old request is refused as old whether or not its signature holds.
    _fresh(sent, now, "X-Slack-Request-Timestamp")
    _equal(slack_signature(signing_secret, sent, body), given, "X-Slack-Signature")


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_whatsapp(app_secret: str, body: bytes, header: str | None) -> None:
    given = _require(header, "X-Hub-Signature-256 header")
    _equal(meta_signature(app_secret, body), given, "X-Hub-Signature-256")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    return hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def verify_mailgun(
    signing_key: str, timestamp: str | None, token: str | None, signature: str | None, now: float
) -> None:
    given = _require(signature, "signature field")
    sent = _require(timestamp, "timestamp field")
    nonce = _require(token, "token field")
    _fresh(sent, now, "timestamp field")
    _equal(mailgun_signature(signing_key, sent, nonce), given, "signature")


def verify_token_matches(expected: str, given: str | None) -> bool:
    """WhatsApp's subscription handshake (`hub.verify_token`), compared in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
