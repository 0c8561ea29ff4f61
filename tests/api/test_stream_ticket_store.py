"""The stream ticket store on a real Redis: single use under a race, only a hash kept, gone when it lapses."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from tenancy.principal import TenantPrincipal
from tenancy.stream_tickets import StreamTickets

PRINCIPAL = TenantPrincipal(tenant_id="tenant-tickets", key_id="key-1", subject="apikey:key-1", roles=("viewer",))


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


async def test_a_ticket_grants_its_principal_and_conversation_once(redis: Redis) -> None:
    tickets = StreamTickets(redis, 60)
    conversation = str(uuid.uuid4())
    issued = await tickets.issue(PRINCIPAL, conversation)
    grant = await tickets.redeem(issued.ticket)
    assert grant is not None
    assert grant.principal == PRINCIPAL and grant.conversation_id == conversation
    assert grant.principal.permissions == PRINCIPAL.permissions
    assert await tickets.redeem(issued.ticket) is None


async def test_of_racing_redemptions_exactly_one_wins(redis: Redis) -> None:
    tickets = StreamTickets(redis, 60)
    issued = await tickets.issue(PRINCIPAL, str(uuid.uuid4()))
    results = await asyncio.gather(*(tickets.redeem(issued.ticket) for _ in range(25)))
    assert sum(grant is not None for grant in results) == 1


async def test_only_a_hash_is_kept_and_it_lapses_with_the_ticket(redis: Redis) -> None:
    tickets = StreamTickets(redis, 1)
    issued = await tickets.issue(PRINCIPAL, str(uuid.uuid4()))
    secret = issued.ticket.removeprefix("st_").encode()
    key = "aiaas:stream-ticket:" + hashlib.sha256(issued.ticket.encode()).hexdigest()
    value = await redis.get(key)
    assert value is not None and secret not in value
    assert not [k async for k in redis.scan_iter(match="aiaas:stream-ticket:*") if secret in k]
    assert 0 < await redis.pttl(key) <= 1000
    await asyncio.sleep(1.2)
    assert not await redis.exists(key)
    assert await tickets.redeem(issued.ticket) is None


async def test_garbage_under_a_ticket_key_opens_nothing(redis: Redis) -> None:
    tickets = StreamTickets(redis, 60)
    issued = await tickets.issue(PRINCIPAL, str(uuid.uuid4()))
    key = "aiaas:stream-ticket:" + hashlib.sha256(issued.ticket.encode()).hexdigest()
    await redis.set(key, b'{"principal": {"tenant_id": null}}', px=60_000)
    assert await tickets.redeem(issued.ticket) is None
    with pytest.raises(ValueError):
        StreamTickets(redis, 0)
