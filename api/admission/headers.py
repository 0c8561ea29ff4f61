"""How a rate-limit decision reaches the client: `RateLimit-*` headers on every response whose request went
through the limiter, and the 429 when it refuses.

The limiter runs as a dependency, which cannot add headers to a response the route builds itself (an event
stream, a JSON error). It leaves its decision in the request's state instead, and this middleware writes the
headers when the response starts, whatever produced it: the route, a 404 raised later, or the 429 itself.
"""

from __future__ import annotations

import math

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError
from policies.rate_limit import RateDecision
from tenancy.plans import RouteClass

STATE_KEY = "rate_limit_decision"


def remember(scope: Scope, decision: RateDecision) -> None:
    scope.setdefault("state", {})[STATE_KEY] = decision


def rate_limited(decision: RateDecision, route_class: RouteClass) -> ApiError:
    return ApiError(
        429,
        "rate_limited",
        f"too many {route_class.value} requests; retry after the time in Retry-After",
        {
            "scope": decision.scope.value,
            "route_class": route_class.value,
            "retry_after_seconds": max(1, math.ceil(decision.retry_after_seconds)),
            "limit": decision.limit,
        },
        headers=decision.headers(),
    )


class RateLimitHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(STATE_KEY)
                if isinstance(decision, RateDecision):
                    headers = MutableHeaders(scope=message)
                    for name, value in decision.headers().items():
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
