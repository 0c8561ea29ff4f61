"""Stream tickets: short-lived, single-use credentials that open one conversation's event stream.

A browser can set no Authorization header on a WebSocket or an EventSource, and a long-lived key must never
travel in a URL, where proxies, browser history and access logs keep it. So a client that holds a key asks
for a ticket and puts that in the URL instead: it opens one stream of one conversation, for the principal
that asked, within a minute, once.

Only a hash of the ticket is stored (a dump of Redis opens no stream), with the ticket's lifetime as the
key's TTL, so an unused ticket disappears by itself. Redeeming is a single `GETDEL`: of two connections
presenting the same ticket, exactly one gets it, and a ticket is spent by its first presentation whether or
not that presentation was for the conversation it names.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError

from tenancy.principal import TenantPrincipal

if TYPE_CHECKING:
    from redis.asyncio import Redis

PREFIX = "st_"
# 32 random bytes, URL-safe base64 without padding: 43 characters.
_TICKET = re.compile(r"^st_[A-Za-z0-9_-]{43}$")
_KEY_PREFIX = "aiaas:stream-ticket:"


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


@dataclass(frozen=True)
class StreamGrant:
    """What a redeemed ticket allows: `principal` may open the stream of `conversation_id`."""

    principal: TenantPrincipal
    conversation_id: str


def _key(ticket: str) -> str:
    # The ticket is 256 random bits, so a plain hash is as good as a keyed one: nothing to guess.
    return _KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


def looks_like_ticket(value: str) -> bool:
    return bool(_TICKET.match(value))


class StreamTickets:
    def __init__(self, redis: Redis, ttl_seconds: float) -> None:
        if ttl_seconds <= 0:
            raise ValueError("a stream ticket needs a positive lifetime")
        self._redis = redis
        self._ttl_ms = max(1, int(ttl_seconds * 1000))

    async def issue(self, principal: TenantPrincipal, conversation_id: str) -> IssuedTicket:
        ticket = PREFIX + secrets.token_urlsafe(32)
        grant = {"conversation_id": conversation_id, "principal": principal.model_dump(mode="json")}
        expires_at = datetime.now(UTC) + timedelta(milliseconds=self._ttl_ms)
        await self._redis.set(_key(ticket), json.dumps(grant, separators=(",", ":")), px=self._ttl_ms, nx=True)
        return IssuedTicket(ticket=ticket, expires_at=expires_at)

    async def redeem(self, ticket: str) -> StreamGrant | None:
        """The grant behind `ticket`, spending it; None for a ticket unknown, expired or already spent."""
        if not looks_like_ticket(ticket):
            return None
        raw = await self._redis.getdel(_key(ticket))
        if raw is None:
            return None
        try:
            stored = json.loads(raw)
            return StreamGrant(
                principal=TenantPrincipal.model_validate(stored["principal"]),
                conversation_id=str(stored["conversation_id"]),
            )
        except (ValueError, KeyError, TypeError, ValidationError):
            # Written by nothing but `issue`; anything else under the key opens nothing.
            return None
