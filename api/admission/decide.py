"""Admission: whether the platform takes a request now, cheapest check first.

Every authenticated /v1 request (`AdmitRequest`, a router dependency that reuses the principal the route's
own authorization resolves, so authentication runs once):
  1. load shedding, for new turns only (a message POST, a new conversation): 503 `overloaded`;
  2. the rate limit of its route class, tenant and key bucket together: 429 `rate_limited`.
A message POST, once its message id is known (`Admission.turn`):
  3. the tenant's budget mode (the cost guard): 402 `budget_exceeded` when blocked;
  4. the monthly token and message quotas: 429 `quota_exceeded`;
  5. a concurrent-turn lease, waiting up to the plan's `concurrency_wait_seconds`: 429 `concurrency_limited`.
The message quota and the lease are handed back when the submission fails or repeats a message.

Redis failing open: a request the limiter cannot judge is admitted (and counted as `degraded`), so a Redis
hiccup does not take the whole API down with it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from fastapi import Request
from prometheus_client import Counter, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Scope

from api.admission.headers import remember
from api.admission.plans import PlanCache
from api.errors import ApiError
from core.metric_labels import tenant_label
from core.settings import Settings
from db.database import Database
from policies import quotas
from policies.concurrency import ConcurrencyLeases, LeaseOutcome
from policies.load_shedding import Shedder
from policies.rate_limit import Rate, RateDecision, RateLimiter
from tenancy.plans import ClassRate, RouteClass
from tenancy.principal import TenantPrincipal

log = structlog.get_logger("aiaas.admission")

DECISIONS = Counter("admission_decisions_total", "Admission decisions", ["decision", "reason", "tenant"])
DECISION_SECONDS = Histogram(
    "admission_decision_seconds",
    "Time to decide admission",
    ["stage"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 2.5, 5, 10),
)
_READ_METHODS = frozenset({"GET", "HEAD"})
MESSAGE_ROUTE = ("POST", "/v1/conversations/{conversation_id}/messages")
# The routes that start work: shed under overload, and drawing on the `messages` rate.
NEW_TURN_ROUTES = frozenset({("POST", "/v1/conversations"), MESSAGE_ROUTE})
BUDGET_BLOCKED = "blocked"


class BudgetModes(Protocol):
    """The cost guard as admission sees it: a tenant's budget mode (`normal`, `safe`, `blocked`)."""

    async def mode(self, tenant_id: str) -> Any: ...


class MonthTokens(Protocol):
    async def __call__(self, redis: Redis, tenant_id: str, month: str) -> int: ...


def route_class_of(method: str, route_path: str) -> RouteClass:
    if (method, route_path) in NEW_TURN_ROUTES:
        return RouteClass.MESSAGES
    if method in _READ_METHODS:
        return RouteClass.READ
    return RouteClass.MANAGE


def rate(limit: ClassRate) -> Rate:
    return Rate(per_minute=limit.per_minute, burst=limit.burst)


def refused(tenant_id: str, reason: str) -> None:
    DECISIONS.labels(decision="refused", reason=reason, tenant=tenant_label(tenant_id)).inc()


def admitted(tenant_id: str, reason: str = "ok") -> None:
    DECISIONS.labels(decision="admitted", reason=reason, tenant=tenant_label(tenant_id)).inc()


@dataclass
class TurnTicket:
    """What a message's admission took: handed back by `cancel` when no turn comes of it."""

    admission: Admission
    tenant_id: str
    message_id: str
    month: str = ""
    counted: bool = False
    leased: bool = False
    duplicate: bool = False

    def settle(self, *, duplicate: bool) -> None:
        self.duplicate = duplicate

    async def cancel(self) -> None:
        try:
            if self.counted:
                await self.admission.message_quota.refund(self.tenant_id, self.month)
                self.counted = False
            if self.leased:
                await self.admission.leases.release(self.tenant_id, self.message_id)
                self.leased = False
        except RedisError as exc:
            log.warning("could not hand back an admission", error_type=type(exc).__name__)


class Admission:
    """Everything admission decides with, built once in the gateway's lifespan (`app.state.admission`)."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        db: Database,
        shedder: Shedder,
        budget: BudgetModes | None = None,
        month_tokens: MonthTokens | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.plans = PlanCache(db, settings.admission_plan_cache_seconds)
        self.limiter = RateLimiter(redis)
        self.message_quota = quotas.MessageQuota(redis)
        self.leases = ConcurrencyLeases(redis)
        self.shedder = shedder
        self.budget = budget
        self.month_tokens = month_tokens

    async def check_request(
        self, principal: TenantPrincipal, method: str, route_path: str, scope: Scope | None = None
    ) -> RateDecision:
        """Shedding, then the rate limit; raises the refusal. The rate decision also goes into `scope`, for
        the response headers, whether it admits or refuses."""
        route_class = route_class_of(method, route_path)
        _plan, limits = await self.plans.plan_of(principal.tenant_id)
        if route_class is RouteClass.MESSAGES and self.shedder.sheds(limits.shed_rank):
            refused(principal.tenant_id, "overloaded")
            retry = self.settings.shed_retry_after_seconds
            raise ApiError(
                503,
                "overloaded",
                "the platform is shedding new work; retry later",
                {"shedding_level": self.shedder.level, "retry_after_seconds": retry},
                headers={"Retry-After": str(retry)},
            )
        decision = await self.limiter.hit(
            tenant_id=principal.tenant_id,
            subject=principal.key_id or f"sub:{principal.subject}",
            route_class=route_class.value,
            tenant_rate=rate(limits.rate_for(route_class)),
            key_rate=rate(limits.key_rate_for(route_class)),
        )
        if scope is not None:
            remember(scope, decision)
        if not decision.allowed:
            refused(principal.tenant_id, "rate_limited")
            raise ApiError(
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
        return decision

    async def limit(self, request: Request, principal: TenantPrincipal) -> None:
        route = request.scope.get("route")
        route_path = str(getattr(route, "path", request.url.path))
        started = time.perf_counter()
        try:
            await self.check_request(principal, request.method, route_path, request.scope)
        except RedisError as exc:
            admitted(principal.tenant_id, "degraded")
            log.warning("rate limiter unavailable; admitting", error_type=type(exc).__name__)
            return
        finally:
            DECISION_SECONDS.labels(stage="request").observe(time.perf_counter() - started)
        if (request.method, route_path) != MESSAGE_ROUTE:
            # A message's admission is decided (and counted) once its turn is admitted too.
            admitted(principal.tenant_id)

    @asynccontextmanager
    async def turn(self, principal: TenantPrincipal, message_id: str) -> AsyncIterator[TurnTicket]:
        """Admit a message's turn for the block; what it took goes back if the block raises or the
        submission turns out to repeat a message (`ticket.settle(duplicate=True)`)."""
        ticket = await self.admit_turn(principal.tenant_id, message_id)
        try:
            yield ticket
        except BaseException:
            await ticket.cancel()
            raise
        if ticket.duplicate:
            await ticket.cancel()

    async def admit_turn(self, tenant_id: str, message_id: str) -> TurnTicket:
        """Budget, quotas and a concurrent-turn lease for `message_id`; raises the refusal."""
        ticket = TurnTicket(self, tenant_id, message_id, month=quotas.month_of())
        started = time.perf_counter()
        try:
            await self._admit_turn(ticket)
        except RedisError as exc:
            await ticket.cancel()
            admitted(tenant_id, "degraded")
            log.warning("turn admission unavailable; admitting", error_type=type(exc).__name__)
            return ticket
        finally:
            DECISION_SECONDS.labels(stage="turn").observe(time.perf_counter() - started)
        admitted(tenant_id)
        return ticket

    async def _admit_turn(self, ticket: TurnTicket) -> None:
        tenant_id = ticket.tenant_id
        _plan, limits = await self.plans.plan_of(tenant_id)
        # Both are reads: one round trip's wait for the two, then judged in order.
        mode, tokens = await asyncio.gather(self.budget_mode(tenant_id), self.tokens_used(tenant_id, ticket.month))
        if mode == BUDGET_BLOCKED:
            refused(tenant_id, "budget_exceeded")
            raise ApiError(
                402,
                "budget_exceeded",
                "the tenant's budget for this period is spent; new turns resume when it is raised or renewed",
                {"budget_mode": BUDGET_BLOCKED},
            )
        check = quotas.token_check(tokens, limits.monthly_tokens, ticket.month)
        if check.allowed:
            check = await self.message_quota.take(tenant_id, ticket.month, limits.monthly_messages)
            ticket.counted = check.allowed
        if not check.allowed:
            refused(tenant_id, "quota_exceeded")
            raise ApiError(
                429,
                "quota_exceeded",
                f"the monthly {check.quota.value} quota of this plan is used up",
                {
                    "quota": check.quota.value,
                    "limit": check.limit,
                    "used": check.used,
                    # The same form as in `/v1/limits`.
                    "resets_at": check.resets_at.isoformat().replace("+00:00", "Z"),
                },
                headers={"Retry-After": str(_seconds_until(check.resets_at.timestamp()))},
            )
        outcome = await self.leases.acquire_waiting(
            tenant_id,
            ticket.message_id,
            limits.concurrent_turns,
            self.settings.concurrency_lease_ttl_seconds,
            limits.concurrency_wait_seconds,
        )
        if outcome is LeaseOutcome.REFUSED:
            await ticket.cancel()
            refused(tenant_id, "concurrency_limited")
            retry = str(self.settings.concurrency_retry_after_seconds)
            raise ApiError(
                429,
                "concurrency_limited",
                f"this plan runs at most {limits.concurrent_turns} turns at once; retry shortly",
                {"limit": limits.concurrent_turns, "retry_after_seconds": int(retry)},
                headers={"Retry-After": retry},
            )
        ticket.leased = outcome is LeaseOutcome.ACQUIRED
        if outcome is LeaseOutcome.ALREADY_HELD:
            # The same message is in flight already: it was counted when it first came in.
            await ticket.cancel()

    async def tokens_used(self, tenant_id: str, month: str) -> int:
        if self.month_tokens is None:
            return 0
        return int(await self.month_tokens(self.redis, tenant_id, month))

    async def budget_mode(self, tenant_id: str) -> str:
        if self.budget is None:
            return "normal"
        return str(await self.budget.mode(tenant_id))


def _seconds_until(timestamp: float) -> int:
    return max(1, math.ceil(timestamp - time.time()))
