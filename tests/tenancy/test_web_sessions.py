"""Console sessions in the session's real Redis: what is stored opens nothing without the cookie's id."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from tenancy.oidc_attempts import SignInAttempts, new_binding
from tenancy.oidc_sessions import renewal_due
from tenancy.web_sessions import SessionEntry, WebSessions, _name, csrf_matches, csrf_token

CREDENTIAL = "ak_test_credential_that_must_never_be_stored_in_clear"


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[WebSessions]:
    client = Redis.from_url(settings.redis_url or "", decode_responses=False)
    yield WebSessions(client, ttl_seconds=60)
    await client.aclose()


async def test_a_session_gives_back_its_credential_and_nothing_else_does(sessions: WebSessions) -> None:
    session_id = await sessions.open(CREDENTIAL)
    assert await sessions.credential(session_id) == CREDENTIAL
    assert await sessions.credential(session_id[:-1] + ("A" if session_id[-1] != "A" else "B")) is None
    assert await sessions.credential(None) is None
    assert await sessions.credential("x" * 5000) is None


async def test_redis_holds_neither_the_id_nor_the_credential_in_clear(sessions: WebSessions) -> None:
    session_id = await sessions.open(CREDENTIAL)
    names = [name async for name in sessions.redis.scan_iter(match="console:session:*")]
    assert names and not any(session_id.encode() in name for name in names)
    stored = [await sessions.redis.get(name) for name in names]
    assert not any(CREDENTIAL.encode() in value for value in stored if value)
    assert _name(session_id) in [name.decode() for name in names]
    assert 0 < await sessions.redis.ttl(_name(session_id)) <= 60


async def test_an_altered_entry_opens_nothing_and_closing_ends_it(sessions: WebSessions) -> None:
    session_id = await sessions.open(CREDENTIAL)
    other = await sessions.open("another credential")
    # Another session's sealed entry moved under this id's name does not open under this id's key.
    await sessions.redis.set(_name(session_id), await sessions.redis.get(_name(other)) or b"")
    assert await sessions.credential(session_id) is None
    await sessions.close(other)
    assert await sessions.credential(other) is None


def test_the_csrf_token_belongs_to_one_session() -> None:
    assert csrf_matches("session-a", csrf_token("session-a"))
    assert not csrf_matches("session-b", csrf_token("session-a"))
    assert not csrf_matches("session-a", None) and not csrf_matches("session-a", "")


async def test_a_token_session_never_outlives_its_token(sessions: WebSessions) -> None:
    entry = SessionEntry("header.payload.signature", kind="oidc", expires_at=time.time() + 20)
    session_id = await sessions.open_entry(entry)
    opened = await sessions.entry(session_id)
    assert opened is not None and opened.kind == "oidc" and opened.credential == entry.credential
    # Reading slides a key session's expiry to the full session time; a token session's stops at the token's.
    assert 0 < await sessions.redis.ttl(_name(session_id)) <= 20
    expired = await sessions.open_entry(SessionEntry("h.p.s", kind="oidc", expires_at=time.time() - 1))
    assert await sessions.entry(expired) is None
    assert await sessions.redis.exists(_name(expired)) == 0


REFRESH_TOKEN = "rt_refresh_token_that_must_never_be_stored_in_clear"


async def test_a_refresh_token_is_sealed_and_lets_the_session_outlive_its_id_token(sessions: WebSessions) -> None:
    entry = SessionEntry("h.p.s", kind="oidc", expires_at=time.time() - 1, refresh_token=REFRESH_TOKEN)
    session_id = await sessions.open_entry(entry)
    assert REFRESH_TOKEN.encode() not in (await sessions.redis.get(_name(session_id)) or b"")
    # The ID token has expired, but the refresh token can renew it: the entry stays, for the session time.
    opened = await sessions.entry(session_id)
    assert opened == entry and 50 < await sessions.redis.ttl(_name(session_id)) <= 60
    chosen = SessionEntry("h.p.s2", kind="oidc", expires_at=time.time() + 30, refresh_token="rt2", tenant_id="t-1")
    assert await sessions.store(session_id, chosen, replace=True)
    assert await sessions.entry(session_id) == chosen
    # A session closed meanwhile is not brought back by a renewal that finishes after it.
    await sessions.close(session_id)
    assert not await sessions.store(session_id, chosen, replace=True)
    assert await sessions.entry(session_id) is None


def test_only_a_refreshable_id_token_near_its_expiry_is_due_for_renewal() -> None:
    now = 1_000_000.0
    due = SessionEntry("h.p.s", kind="oidc", expires_at=now + 59, refresh_token="rt")
    assert renewal_due(due, 60, now=now)
    assert renewal_due(SessionEntry("h.p.s", kind="oidc", expires_at=now - 5, refresh_token="rt"), 60, now=now)
    assert not renewal_due(SessionEntry("h.p.s", kind="oidc", expires_at=now + 61, refresh_token="rt"), 60, now=now)
    assert not renewal_due(SessionEntry("h.p.s", kind="oidc", expires_at=now + 10), 60, now=now)
    assert not renewal_due(SessionEntry(CREDENTIAL), 60, now=now)


async def test_one_renewal_at_a_time(sessions: WebSessions) -> None:
    session_id = await sessions.open(CREDENTIAL)
    assert await sessions.lock(session_id, 5)
    assert not await sessions.lock(session_id, 5)
    await sessions.unlock(session_id)
    assert await sessions.lock(session_id, 5)
    await sessions.unlock(session_id)


async def test_sign_in_attempts_are_single_use_and_bound_to_one_browser(sessions: WebSessions) -> None:
    attempts = SignInAttempts(sessions.redis, ttl_seconds=60)
    binding = new_binding()
    attempt = await attempts.start(binding=binding, next="/console/agents")
    assert len(attempt.code_verifier) >= 43 and attempt.nonce != attempt.state
    names = [name async for name in sessions.redis.scan_iter(match="console:oidc:attempt:*")]
    assert not any(attempt.state.encode() in name for name in names)
    taken = await attempts.take(attempt.state)
    assert taken is not None and taken.next == "/console/agents" and taken.code_verifier == attempt.code_verifier
    assert taken.bound_to(binding) and not taken.bound_to(new_binding()) and not taken.bound_to(None)
    assert await attempts.take(attempt.state) is None
    assert await attempts.take("x" * 500) is None and await attempts.take(None) is None
