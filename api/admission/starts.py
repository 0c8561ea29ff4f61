"""Admission of a start: what a turn passes right before its update-with-start reaches the engine.

Two checks, after the request's own admission (`api.admission.decide`) and the turn's (budget, quotas,
lease), around the engine call itself:
  1. the tenant's start rate, a token bucket in Redis shared by every gateway (`policies.start_rate`), sized
     by the plan (`PlanLimits.start_rate`) or by `AIAAS_START_RATES` for that plan: 429 `start_rate_limited`;
  2. this process's fair start queue (`policies.start_queue`): a bounded number of engine calls at once, the
     rest waiting in one line per tenant served round-robin, a turn as long as the plan's fairness weight:
     429 `start_queue_full` when the tenant's line is full or its start waited `start_queue_wait_seconds`
     for nothing.
Both refusals carry `Retry-After` and happen before anything reached the engine, so a retry (with the same
`client_message_id`) is safe and the turn's quota and lease go back. Redis failing open as in the request
gate: a start the bucket cannot judge is let through, and still queued fairly.

A caller that cannot hand a 429 back usefully waits instead (`patient_slot`): a provider's webhook (Twilio
does not retry a refused request by default) or a mail server. Such a start waits out each refusal's
`Retry-After` while its patience lasts, and gets the refusal only when the next try would come too late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.admission import outcomes
from api.admission.plans import TenantPlan
from api.errors import ApiError
from core.settings import Settings
from policies.rate_limit import Rate
from policies.start_limit import VegasLimit
from policies.start_queue import FairStartQueue, StartRefused
from policies.start_rate import StartDecision, StartRateLimiter

log = structlog.get_logger("aiaas.admission.starts")

START_WAIT_SECONDS = Histogram(
    "admission_start_wait_seconds",
    "Time a start waited in the gateway's fair start queue",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STARTS_WAITING = Gauge(
    "admission_starts_waiting", "Starts waiting in this gateway's fair start queue", multiprocess_mode="livesum"
)

START_LIMIT = Gauge(
    "admission_start_queue_limit",
    "Engine calls this gateway's fair start queue lets out at once (the adaptive width, summed over processes)",
    multiprocess_mode="livesum",
)
START_PATIENT_WAITS = Counter(
    "admission_start_patient_waits_total",
    "Refused starts of callers that cannot retry (channel webhooks, mail) waited out instead of refused",
)


def start_rate_of(settings: Settings, plan: TenantPlan) -> Rate:
    """The plan's start rate, or the one settings give for the plan."""
    override = settings.start_rates.get(plan.name)
    if override is not None:
        return Rate(per_minute=override.per_minute, burst=override.burst)
    rate = plan.limits.start_rate
    return Rate(per_minute=rate.per_minute, burst=rate.burst)


def start_rate_limited(decision: StartDecision) -> ApiError:
    retry_after = max(1, math.ceil(decision.retry_after_seconds))
    return ApiError(
        429,
        "start_rate_limited",
        "this tenant is starting turns faster than its plan allows; retry after the time in Retry-After",
        {"limit": decision.limit, "retry_after_seconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def start_queue_full(refusal: StartRefused) -> ApiError:
    retry_after = max(1, math.ceil(refusal.retry_after_seconds))
    return ApiError(
        429,
        "start_queue_full",
        f"too many of this tenant's turns are waiting to start ({refusal}); retry after the time in Retry-After",
        {"retry_after_seconds": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


class StartAdmission:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings
        self.limiter = StartRateLimiter(redis)
        adaptive = (
            VegasLimit(
                settings.start_queue_in_flight,
                floor=min(settings.start_queue_min_in_flight, settings.start_queue_in_flight),
            )
            if settings.start_queue_adaptive
            else None
        )
        self.queue = FairStartQueue(
            in_flight=settings.start_queue_in_flight,
            per_tenant_waiting=settings.start_queue_per_tenant,
            max_wait_seconds=settings.start_queue_wait_seconds,
            adaptive=adaptive,
        )

    @asynccontextmanager
    async def slot(self, plan: TenantPlan) -> AsyncIterator[None]:
        """Hold a start for `plan`'s tenant for the block (the engine call); raises the 429 when refused."""
        tenant_id = plan.tenant_id
        try:
            decision = await self.limiter.take(tenant_id, start_rate_of(self.settings, plan))
        except RedisError as exc:
            log.warning("start rate unavailable; admitting", error_type=type(exc).__name__)
        else:
            if not decision.allowed:
                outcomes.count_refused(tenant_id, "start_rate_limited")
                raise start_rate_limited(decision)
        started = time.monotonic()
        STARTS_WAITING.inc()
        try:
            async with self.queue.slot(tenant_id, plan.limits.fairness_weight):
                STARTS_WAITING.dec()
                START_WAIT_SECONDS.observe(time.monotonic() - started)
                started = 0.0
                yield
        except StartRefused as refusal:
            outcomes.count_refused(tenant_id, "start_queue_full")
            raise start_queue_full(refusal) from None
        else:
            START_LIMIT.set(self.queue.in_flight_limit)
        finally:
            if started:
                STARTS_WAITING.dec()  # refused or cancelled while waiting

    @asynccontextmanager
    async def patient_slot(self, plan: TenantPlan, patience_seconds: float) -> AsyncIterator[None]:
        """`slot`, for a caller that cannot pass a 429 on: each refusal is waited out for its `Retry-After`
        while the wait ends within `patience_seconds`; beyond that the refusal is raised as `slot` raises it."""
        deadline = time.monotonic() + patience_seconds
        async with AsyncExitStack() as held:
            while True:
                try:
                    await held.enter_async_context(self.slot(plan))
                    break
                except ApiError as refusal:
                    wait = retry_after_of(refusal)
                    if time.monotonic() + wait > deadline:
                        raise
                    START_PATIENT_WAITS.inc()
                    await asyncio.sleep(wait)
            yield


def retry_after_of(refusal: ApiError) -> float:
    """The refusal's `Retry-After` in seconds (at least one)."""
    try:
        return max(1.0, float((refusal.headers or {}).get("Retry-After", "1")))
    except ValueError:
        return 1.0
