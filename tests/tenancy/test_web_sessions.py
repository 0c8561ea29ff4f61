"""Console sessions in the session's real Redis: what is stored opens nothing without the cookie's id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from tenancy.web_sessions import WebSessions, _name, csrf_matches, csrf_token

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
