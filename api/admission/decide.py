"""Admission: whether the platform takes a request now, cheapest check first.

Every authenticated /v1 request (`Admission.limit`, run by the /v1 router's dependency):
  1. load shedding, for new turns only (a message POST, a new conversation): 503 `overloaded`;
  2. the rate limit of its route class, tenant and key bucket together: 429 `rate_limited`.
A message POST, once its message id is known (`Admission.turn`):
  3. the tenant's budget mode (the cost guard): 402 `budget_exceeded` when blocked;
  4. the monthly token and message quotas: 429 `quota_exceeded`;
  5. a concurrent-turn lease, waiting up to the plan's `concurrency_wait_seconds`: 429 `concurrency_limited`.
Around the engine call (`Admission.starts`, `api.admission.starts`):
  6. the tenant's start rate, then a place in the process's fair start queue: 429 `start_rate_limited` or
     `start_queue_full`.
The message quota and the lease are handed back when the submission fails or repeats a message.

The request's decision (`Admitted`) carries the tenant's plan it was made against, so the turn's checks and
the run it starts (its Temporal priority) use that plan instead of reading it again.

Redis failing open: a request the limiter cannot judge is admitted (and counted as `degraded`), so a Redis
hiccup does not take the whole API down with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from fastapi import Request
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import Scope
from temporalio.common import Priority

from api.admission import outcomes
from api.admission.headers import rate_limited, remember
from api.admission.plans import PlanCache, TenantPlan
from api.admission.starts import StartAdmission
from core.settings import Settings
from db.database import Database
from policies import quotas
from policies.concurrency import ConcurrencyLeases, LeaseOutcome
from policies.load_shedding import Shedder
from policies.rate_limit import Rate, RateDecision, RateLimiter
from tenancy.plans import ClassRate, PlanLimits, RouteClass
from tenancy.principal import TenantPrincipal

log = structlog.get_logger("aiaas.admission")

_READ_METHODS = frozenset({"GET", "HEAD"})
MESSAGE_ROUTE = ("POST", "/v1/conversations/{conversation_id}/messages")
# The routes that start work: shed under overload, and drawing on the `messages` rate.
NEW_TURN_ROUTES = frozenset({("POST", "/v1/conversations"), MESSAGE_ROUTE})


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


def _rate(limit: ClassRate) -> Rate:
    return Rate(per_minute=limit.per_minute, burst=limit.burst)


@dataclass(frozen=True)
class Admitted:
    """A tenant's request that admission let through, and the plan it was judged by."""

    plan: TenantPlan
    route_class: RouteClass
    # None when Redis could not judge the request and it was let through unlimited.
    rate: RateDecision | None = None

    @property
    def tenant_id(self) -> str:
        return self.plan.tenant_id

    @property
    def limits(self) -> PlanLimits:
        return self.plan.limits

    @property
    def priority(self) -> Priority:
        """What a run this request starts carries: the plan's queue priority, the tenant's fairness key."""
        return self.plan.priority


@dataclass
class TurnTicket:
    """What a message's admission took: handed back by `cancel` when no turn comes of it."""

    message_quota: quotas.MessageQuota
    leases: ConcurrencyLeases
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
                await self.message_quota.refund(self.tenant_id, self.month)
                self.counted = False
            if self.leased:
                await self.leases.release(self.tenant_id, self.message_id)
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
        # The last gate, around the engine call itself: start rate and the fair start queue.
        self.starts = StartAdmission(settings, redis)
        self.shedder = shedder
        self.budget = budget
        self.month_tokens = month_tokens

    async def check_request(
        self, principal: TenantPrincipal, method: str, route_path: str, scope: Scope | None = None
    ) -> Admitted:
        """Shedding, then the rate limit; raises the refusal (or a `RedisError`). The rate decision also goes
        into `scope`, for the response headers, whether it admits or refuses."""
        plan = await self.plans.plan_of(principal.tenant_id)
        return await self._gate(principal, plan, route_class_of(method, route_path), scope)

    async def _gate(
        self, principal: TenantPrincipal, plan: TenantPlan, route_class: RouteClass, scope: Scope | None
    ) -> Admitted:
        limits = plan.limits
        if route_class is RouteClass.MESSAGES and self.shedder.sheds(limits.shed_rank):
            outcomes.count_refused(principal.tenant_id, "overloaded")
            raise outcomes.overloaded(self.shedder.level, self.settings.shed_retry_after_seconds)
        decision = await self.limiter.hit(
            tenant_id=principal.tenant_id,
            subject=principal.key_id or f"sub:{principal.subject}",
            route_class=route_class.value,
            tenant_rate=_rate(limits.rate_for(route_class)),
            key_rate=_rate(limits.key_rate_for(route_class)),
        )
        if scope is not None:
            remember(scope, decision)
        if not decision.allowed:
            outcomes.count_refused(principal.tenant_id, "rate_limited")
            raise rate_limited(decision, route_class)
        return Admitted(plan, route_class, decision)

    async def limit(self, request: Request, principal: TenantPrincipal) -> Admitted:
        """The request gate of an HTTP route, judged by the route's path template."""
        route = request.scope.get("route")
        route_path = str(getattr(route, "path", request.url.path))
        route_class = route_class_of(request.method, route_path)
        started = time.perf_counter()
        try:
            plan = await self.plans.plan_of(principal.tenant_id)
            try:
                admitted = await self._gate(principal, plan, route_class, request.scope)
            except RedisError as exc:
                outcomes.count_admitted(principal.tenant_id, "degraded")
                log.warning("rate limiter unavailable; admitting", error_type=type(exc).__name__)
                return Admitted(plan, route_class)
        finally:
            outcomes.DECISION_SECONDS.labels(stage="request").observe(time.perf_counter() - started)
        if (request.method, route_path) != MESSAGE_ROUTE:
            # A message's admission is decided (and counted) once its turn is admitted too.
            outcomes.count_admitted(principal.tenant_id)
        return admitted

    @asynccontextmanager
    async def turn(self, admitted: Admitted, message_id: str) -> AsyncIterator[TurnTicket]:
        """Admit a message's turn for the block; what it took goes back if the block raises or the
        submission turns out to repeat a message (`ticket.settle(duplicate=True)`)."""
        ticket = await self.admit_turn(admitted, message_id)
        try:
            yield ticket
        except BaseException:
            await ticket.cancel()
            raise
        if ticket.duplicate:
            await ticket.cancel()

    async def admit_turn(self, admitted: Admitted, message_id: str) -> TurnTicket:
        """Budget, quotas and a concurrent-turn lease for `message_id`, against the plan the request was
        admitted with; raises the refusal."""
        tenant_id = admitted.tenant_id
        ticket = TurnTicket(self.message_quota, self.leases, tenant_id, message_id, month=quotas.month_of())
        started = time.perf_counter()
        try:
            await self._admit_turn(ticket, admitted.limits)
        except RedisError as exc:
            await ticket.cancel()
            outcomes.count_admitted(tenant_id, "degraded")
            log.warning("turn admission unavailable; admitting", error_type=type(exc).__name__)
            return ticket
        finally:
            outcomes.DECISION_SECONDS.labels(stage="turn").observe(time.perf_counter() - started)
        outcomes.count_admitted(tenant_id)
        return ticket

    async def _admit_turn(self, ticket: TurnTicket, limits: PlanLimits) -> None:
        tenant_id = ticket.tenant_id
        # Both are reads: one round trip's wait for the two, then judged in order.
        mode, tokens = await asyncio.gather(self.budget_mode(tenant_id), self.tokens_used(tenant_id, ticket.month))
        if mode == outcomes.BUDGET_BLOCKED:
            outcomes.count_refused(tenant_id, "budget_exceeded")
            raise outcomes.budget_exceeded()
        check = quotas.token_check(tokens, limits.monthly_tokens, ticket.month)
        if check.allowed:
            check = await self.message_quota.take(tenant_id, ticket.month, limits.monthly_messages)
            ticket.counted = check.allowed
        if not check.allowed:
            outcomes.count_refused(tenant_id, "quota_exceeded")
            raise outcomes.quota_exceeded(check)
        outcome = await self.leases.acquire_waiting(
            tenant_id,
            ticket.message_id,
            limits.concurrent_turns,
            self.settings.concurrency_lease_ttl_seconds,
            limits.concurrency_wait_seconds,
        )
        if outcome is LeaseOutcome.REFUSED:
            await ticket.cancel()
            outcomes.count_refused(tenant_id, "concurrency_limited")
            raise outcomes.concurrency_limited(limits.concurrent_turns, self.settings.concurrency_retry_after_seconds)
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
