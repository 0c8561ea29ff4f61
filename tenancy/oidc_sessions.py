"""Renewing an OpenID Connect console session's ID token with its refresh token.

A session that holds a refresh token (sealed with the ID token in the session's entry, `tenancy.web_sessions`)
renews its ID token on the first request that finds it within `AIAAS_OIDC_REFRESH_BEFORE_SECONDS` of its
expiry: the token endpoint's `grant_type=refresh_token`, then the new ID token verified exactly as at sign-in
(signature with the API's keys, issuer, the console client's audience, expiry) and for the same person (its
`sub` must be the old one's). A refused or failed renewal (the refresh token revoked or expired, the provider
down, a token for someone else) ends the session: the next page is the sign-in page.

One renewal per session at a time: a short lock in Redis; a request that finds it taken goes on with the
current ID token while that is still valid, or waits briefly for the renewed entry. A rotating provider
answers the second use of a refresh token with `invalid_grant`, so two renewals at once would end the session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

import jwt
from prometheus_client import Counter

from tenancy.oidc import OidcClient, OidcError
from tenancy.web_sessions import SessionEntry, WebSessions

log = logging.getLogger(__name__)
LOCK_SECONDS = 15.0
_WAIT_STEP_SECONDS = 0.1
_WAIT_STEPS = 50
RENEWALS = Counter(
    "aiaas_console_oidc_renewals_total", "Renewals of console sessions' ID tokens by outcome", ["outcome"]
)
_OUTCOMES = frozenset(
    {
        "renewed", "refresh_refused", "provider_unavailable", "provider_misconfigured", "subject_changed",
        "id_token_expired", "id_token_issuer", "id_token_audience", "id_token_signature", "id_token_unknown_key",
        "id_token_algorithm", "id_token_invalid", "id_token_malformed",
    }
)  # fmt: skip


def renewal_due(entry: SessionEntry, refresh_before_seconds: float, now: float | None = None) -> bool:
    """An ID token session with a refresh token whose ID token expires within the renewal margin."""
    if entry.kind != "oidc" or entry.refresh_token is None or entry.expires_at is None:
        return False
    return entry.expires_at - (time.time() if now is None else now) <= refresh_before_seconds


async def current(sessions: WebSessions, oidc: OidcClient, session_id: str, entry: SessionEntry) -> SessionEntry | None:
    """The entry to decide this request with: `entry` itself unless its ID token is due for renewal, else
    the renewed one (stored); None when the renewal failed, and the session is then closed."""
    if not renewal_due(entry, oidc.refresh_before_seconds):
        return entry
    if not await sessions.lock(session_id, LOCK_SECONDS):
        return await _await_renewal(sessions, session_id, entry)
    try:
        # Read again under the lock: a request that read the entry before another one's renewal must not
        # present the spent refresh token it read.
        latest = await sessions.entry(session_id)
        if latest is None:
            return None
        if latest.credential != entry.credential:
            return latest
        renewed = await renew(oidc, latest)
        if renewed is None:
            await sessions.close(session_id)
            return None
        if not await sessions.store(session_id, renewed, replace=True):
            return None  # signed out while the provider answered
        return renewed
    finally:
        await sessions.unlock(session_id)


async def _await_renewal(sessions: WebSessions, session_id: str, entry: SessionEntry) -> SessionEntry | None:
    if entry.expires_at is not None and entry.expires_at > time.time():
        return entry
    for _ in range(_WAIT_STEPS):
        await asyncio.sleep(_WAIT_STEP_SECONDS)
        fresh = await sessions.entry(session_id)
        if fresh is None:
            return None
        if fresh.expires_at is not None and fresh.expires_at > time.time():
            return fresh
    return None


async def renew(oidc: OidcClient, entry: SessionEntry) -> SessionEntry | None:
    """The entry with a new ID token (and the new refresh token, when the provider rotates it); None when the
    provider refuses or cannot be reached, or its new token does not verify or names another person."""
    assert entry.refresh_token is not None
    try:
        tokens = await oidc.refresh(entry.refresh_token)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError(502, "provider_misconfigured", "the provider's refresh answer carries no ID token")
        signed_in = await oidc.verify(id_token)
        if signed_in.claims.subject != _subject(entry.credential):
            raise OidcError(401, "subject_changed", "the renewed ID token names another person")
    except OidcError as exc:
        log.info("console session renewal refused", extra={"code": exc.code, "status": exc.status})
        RENEWALS.labels(exc.code if exc.code in _OUTCOMES else "other").inc()
        return None
    RENEWALS.labels("renewed").inc()
    rotated = tokens.get("refresh_token")
    return replace(
        entry,
        credential=id_token,
        expires_at=signed_in.claims.expires_at,
        refresh_token=rotated if isinstance(rotated, str) and rotated else entry.refresh_token,
    )


def _subject(id_token: str) -> str | None:
    # The stored token was verified when it was stored (and sealed since); only its `sub` is wanted here,
    # after it may have expired.
    try:
        subject = jwt.decode(id_token, options={"verify_signature": False}).get("sub")
    except jwt.PyJWTError:
        return None
    return subject if isinstance(subject, str) else None
