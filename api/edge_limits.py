"""The edge rate limits as FastAPI dependencies (`policies.edge_limits`): a router lists one, and a request
over its address's allowance is refused before anything else runs, with 429, `Retry-After` and the API's
JSON error body (the console turns the same error into its friendly page).

The widget's refusal also names the page's origin (CORS), so the widget's script can read the 429 and its
`Retry-After` and wait, rather than see an opaque network error.
"""

from __future__ import annotations

import math

from fastapi import Depends, Request
from prometheus_client import Counter

from api.errors import ApiError
from api.state import GatewayState
from policies.edge_limits import Edge, admit

REFUSED = Counter("aiaas_edge_rate_limited_total", "Requests refused by an edge rate limit", ["edge"])
_MESSAGES = {
    Edge.CONSOLE: "too many console requests from your address; wait a moment and try again",
    Edge.HOOKS: "too many webhook deliveries from this address; deliver again later",
    Edge.WIDGET: "too many widget requests from this address; retry later",
}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _limit(request: Request, edge: Edge) -> None:
    state: GatewayState = request.app.state.gateway
    settings = state.settings
    per_minute = {
        Edge.CONSOLE: settings.console_per_minute_per_address,
        Edge.HOOKS: settings.hooks_per_minute_per_address,
        Edge.WIDGET: settings.widget_per_minute_per_address,
    }[edge]
    wait = await admit(state.redis, edge, client_address(request), per_minute)
    if wait is None:
        return
    REFUSED.labels(str(edge)).inc()
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    origin = request.headers.get("origin")
    if edge == Edge.WIDGET and origin:
        headers |= {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }
    raise ApiError(429, "rate_limited", _MESSAGES[edge], details={"edge": str(edge)}, headers=headers)


async def limit_console(request: Request) -> None:
    await _limit(request, Edge.CONSOLE)


async def limit_hooks(request: Request) -> None:
    await _limit(request, Edge.HOOKS)


async def limit_widget(request: Request) -> None:
    await _limit(request, Edge.WIDGET)


ConsoleLimit = Depends(limit_console)
HooksLimit = Depends(limit_hooks)
WidgetLimit = Depends(limit_widget)
