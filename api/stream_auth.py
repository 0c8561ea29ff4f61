"""Who opens an event stream, from what each kind of client can send.

Scripts and servers send `Authorization: Bearer <token>`. A browser can set no header on a WebSocket or an
EventSource, so a stream also takes:

- `?ticket=<stream ticket>` from `POST /v1/conversations/{id}/stream-tickets`: single-use, about a minute
  long, bound to the tenant, the conversation and the principal that asked for it (`tenancy.stream_tickets`);
- on a WebSocket, the token as a subprotocol pair, `new WebSocket(url, ["aiaas.bearer", token])`; the
  handshake echoes only `aiaas.bearer`, so the token is not sent back.

A long-lived credential never goes in a URL, where proxies, browser history and access logs keep it:
`?api_key=`, `?token=` and the like are refused with `credentials_in_query`, not ignored, so a client that
tries learns what to do instead. Two kinds of credentials at once are refused too: which one would count
is not the client's guess to make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redis.exceptions import RedisError

from api.deps import authenticate, authorize
from api.errors import ApiError
from api.state import GatewayState
from tenancy.permissions import Permission
from tenancy.principal import TenantPrincipal
from tenancy.stream_tickets import StreamTickets

BEARER_SUBPROTOCOL = "aiaas.bearer"
TICKET_PARAM = "ticket"
# Names clients and libraries use for a credential in a query string.
_QUERY_CREDENTIALS = frozenset(
    {"api_key", "apikey", "api-key", "key", "token", "access_token", "bearer", "authorization", "auth", "jwt"}
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="aiaas"'}


def tickets_of(state: GatewayState) -> StreamTickets:
    return StreamTickets(state.redis, state.settings.stream_ticket_ttl_seconds)


def refuse_credentials_in_query(params: Mapping[str, str]) -> None:
    named = sorted(name for name in params if name.lower() in _QUERY_CREDENTIALS)
    if named:
        raise ApiError(
            400,
            "credentials_in_query",
            "credentials do not belong in a URL; send an Authorization header, or use a stream ticket "
            "(POST /v1/conversations/{id}/stream-tickets) as `?ticket=`",
            {"parameters": named},
        )


def subprotocol_authorization(offered: Sequence[str]) -> str | None:
    """`Bearer <token>` from the subprotocols `aiaas.bearer, <token>`; None when `aiaas.bearer` is not offered."""
    if BEARER_SUBPROTOCOL not in offered:
        return None
    rest = list(offered[offered.index(BEARER_SUBPROTOCOL) + 1 :])
    if not rest:
        raise ApiError(
            401,
            "unauthenticated",
            f"the `{BEARER_SUBPROTOCOL}` subprotocol must be followed by the token",
            headers=_CHALLENGE,
        )
    return f"Bearer {rest[0]}"


async def stream_principal(
    state: GatewayState, conversation_id: str, *, authorization: str | None, ticket: str | None
) -> TenantPrincipal:
    """The principal opening `conversation_id`'s stream with a header (or subprotocol) or a ticket."""
    if ticket is None:
        return await authenticate(state, authorization, Permission.CONVERSATIONS_READ)
    if authorization is not None:
        raise ApiError(400, "conflicting_credentials", "send either a stream ticket or a bearer token, not both")
    try:
        grant = await tickets_of(state).redeem(ticket)
    except RedisError as exc:
        raise ApiError(503, "unavailable", "stream tickets cannot be checked right now; retry shortly") from exc
    if grant is None:
        raise ApiError(
            401, "invalid_ticket", "the stream ticket is unknown, expired or already used", headers=_CHALLENGE
        )
    if grant.conversation_id != conversation_id:
        # Said without looking the conversation up, so the answer is the same whether it exists or not.
        raise ApiError(403, "ticket_not_for_conversation", "the stream ticket was issued for another conversation")
    return authorize(grant.principal, Permission.CONVERSATIONS_READ)
