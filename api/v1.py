"""The /v1 API as two routers: every HTTP route behind admission, and the WebSocket routes without it.

`http_router` carries admission (`AdmitRequest`: load shedding and rate limits, with their `RateLimit-*`
headers) as a router dependency, so no /v1 HTTP route can be added without it, and after it the check of the
body's media type (`api.media_types`), so no route reads a body it was not declared to take. WebSocket
routes go in `socket_router` instead: they accept before they authenticate, so that a refusal reaches the
client as a close code and reason rather than a bare handshake 403, which leaves no principal for a
dependency to limit; they run admission themselves once the client is known.

The version segment stays in each resource router's own prefix rather than on these routers. FastAPI
keeps an included route as the object its router declared, so `scope["route"].path` is the path that router
gave it; with "/v1" only on an outer router, admission would classify routes, and the request metrics label
them, by paths without it.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIWebSocketRoute

from api.admission.deps import AdmitRequest
from api.media_types import RequireMediaType
from api.routes import (
    admin_tenants,
    agent_diff,
    agents,
    api_keys,
    approvals,
    audit,
    billing,
    budgets,
    channels,
    confirmations,
    connectors,
    conversation_list,
    conversations,
    customers,
    dr_reports,
    drift,
    erasures,
    evals,
    events,
    invitations,
    key_rotation,
    knowledge,
    knowledge_events,
    knowledge_reembed,
    knowledge_search,
    limits,
    privacy,
    products,
    retention,
    router_canaries,
    router_settings,
    stream_tickets,
    tenant,
    tools,
    usage,
    usage_export,
    webhooks,
)

PREFIX = "/v1/"
# In the order they match.
_HTTP: tuple[APIRouter, ...] = (
    conversations.router,
    conversation_list.router,
    approvals.router,
    confirmations.router,
    events.router,
    stream_tickets.router,
    api_keys.router,
    admin_tenants.router,
    tenant.router,
    audit.router,
    limits.router,
    agents.router,
    agent_diff.router,
    tools.router,
    usage_export.router,
    usage.router,
    budgets.router,
    connectors.router,
    knowledge.router,
    knowledge_events.router,
    knowledge_reembed.router,
    knowledge_search.router,
    customers.router,
    products.router,
    privacy.router,
    erasures.customer_router,
    erasures.router,
    key_rotation.router,
    retention.router,
    router_settings.router,
    drift.router,
    webhooks.router,
    billing.router,
    billing.invoices,
    evals.router,
    channels.router,
    dr_reports.router,
)
_HTTP += (router_canaries.router,)
_HTTP += (invitations.router,)
_SOCKETS = (events.sockets,)


def http_router() -> APIRouter:
    """Every /v1 HTTP route, each admitted before its own dependencies run."""
    v1 = APIRouter(dependencies=[AdmitRequest, RequireMediaType])
    for router in _HTTP:
        _check(router, websocket=False)
        v1.include_router(router)
    return v1


def socket_router() -> APIRouter:
    """The /v1 WebSocket routes, which admit themselves after they accept."""
    v1 = APIRouter()
    for router in _SOCKETS:
        _check(router, websocket=True)
        v1.include_router(router)
    return v1


def _check(router: APIRouter, *, websocket: bool) -> None:
    # A route in the wrong router would be served without admission, or refused before it could say why.
    if not router.prefix.startswith(PREFIX):
        raise ValueError(f"router {router.prefix!r} is not under {PREFIX}")
    for route in router.routes:
        if isinstance(route, APIWebSocketRoute) != websocket:
            kind = "HTTP" if websocket else "WebSocket"
            raise ValueError(f"{kind} route {getattr(route, 'path', route)!r} in the wrong /v1 router")
