"""What admission costs per decision, in one process against the embedded Redis and Postgres.

Measured in the same run, on the same Redis client:
  - baseline: one bare Redis PING round trip;
  - request gate: load shedding + the GCRA script (tenant and key bucket), what every /v1 request pays;
  - message admission: the gate, then budget mode, token and message quotas and a concurrent-turn lease,
    the whole path a message POST takes before it reaches Temporal (no HTTP);
  - through the ASGI app in process: a message route behind a /v1 router with the gateway's admission
    dependency, admitting and answering 202 without submitting, against the same route on a router without
    it (the HTTP baseline), all authenticating with a cached API key.
Then decisions per second with several requests in flight. The plan is the enterprise plan with rates too
high to refuse, so every sample is a full admitted decision; leases are released outside the timed part.

    python -m benchmarks.admission --iterations 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, status
from redis.asyncio import Redis

from agents.sdk import ToolRegistry
from api.admission.decide import MESSAGE_ROUTE, Admission
from api.admission.deps import AdmissionDep, AdmitRequest, AdmittedDep
from api.admission.lifespan import build_admission
from api.admission.plans import PlanCache, TenantPlan
from api.deps import ConversationsWriteDep
from api.errors import install_error_handlers
from api.state import GatewayState
from core.events import EventBus
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from policies.load_shedding import Shedder, ShedPolicy
from tenancy.auth import ApiKeyAuthenticator
from tenancy.plans import ClassRate, PlanLimits, RouteClass, limits_for
from tenancy.principal import TenantPrincipal
from tenancy.tenants import create_tenant

GOAL_P99_MS = 2.0
_UNLIMITED = ClassRate(per_minute=10**9, burst=10**9)


class FixedPlan(PlanCache):
    """The enterprise plan with rates nothing reaches, so the benchmark measures admitted decisions."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, ttl_seconds=3600)
        self.limits: PlanLimits = limits_for("enterprise").model_copy(
            update={"rate_limits": dict.fromkeys(RouteClass, _UNLIMITED), "key_rate_share": 1.0}
        )
        self._fixed: dict[str, TenantPlan] = {}

    async def plan_of(self, tenant_id: str) -> TenantPlan:
        plan = await super().plan_of(tenant_id)  # the cache lookup a real decision makes
        fixed = self._fixed.get(tenant_id)
        if fixed is None:
            fixed = self._fixed[tenant_id] = replace(plan, limits=self.limits)
        return fixed


def _stats(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_us": statistics.median(samples) * 1e6, "p99_us": q[98] * 1e6, "n": len(samples)}


async def _time(call: Callable[[], Awaitable[Any]], iterations: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def _time_interleaved(
    calls: dict[str, Callable[[], Awaitable[Any]]], iterations: int, warmup: int
) -> dict[str, list[float]]:
    for call in calls.values():
        for _ in range(warmup):
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(iterations):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            samples[name].append(time.perf_counter() - started)
    return samples


def _message_app(state: GatewayState, admission: Admission, mode: str) -> FastAPI:
    """The message route without the conversation lookup and the Temporal submission, included the way the
    gateway includes /v1 (`api.v1`). `bare`: no admission; `gate`: the request gate every /v1 route has;
    `full`: the gate and the turn's admission, against the plan the gate read."""
    app = FastAPI()
    install_error_handlers(app)
    app.state.gateway, app.state.admission = state, admission
    router = APIRouter(prefix="/v1/conversations")
    path = "/{conversation_id}/messages"

    if mode == "full":

        @router.post(path, status_code=status.HTTP_202_ACCEPTED)
        async def admitted_message(
            conversation_id: str, principal: ConversationsWriteDep, gate: AdmissionDep, admitted: AdmittedDep
        ) -> dict[str, str]:
            message_id = str(uuid.uuid4())
            async with gate.turn(admitted, message_id):
                pass
            await gate.leases.release(principal.tenant_id, message_id)
            return {"message_id": message_id}

    else:

        @router.post(path, status_code=status.HTTP_202_ACCEPTED)
        async def post_message(conversation_id: str, principal: ConversationsWriteDep) -> dict[str, str]:
            return {"message_id": str(uuid.uuid4())}

    v1 = APIRouter(dependencies=[] if mode == "bare" else [AdmitRequest])
    v1.include_router(router)
    app.include_router(v1)
    return app


async def _throughput(call: Callable[[], Awaitable[Any]], total: int, concurrency: int) -> float:
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def _measure(settings: Settings, iterations: int, warmup: int, concurrency: int) -> dict[str, Any]:
    admin_url = settings.database_url or ""
    await migrate(admin_url, settings.app_db_password.get_secret_value())
    pepper = settings.api_key_pepper.get_secret_value()
    tenant = await create_tenant(admin_url, name=f"bench {uuid.uuid4().hex[:6]}", plan="enterprise", pepper=pepper)
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    redis = Redis.from_url(settings.redis_url or "")
    authenticator = ApiKeyAuthenticator(db, pepper, cache_seconds=3600)
    state = GatewayState(
        settings,
        None,  # type: ignore[arg-type]  # nothing measured here reaches Temporal
        db,
        redis,
        EventBus(redis),
        authenticator,
        tools=ToolRegistry(),
    )
    # Thresholds nothing reaches: the shedding check runs, and never sheds.
    admission = build_admission(state, Shedder(ShedPolicy(counts=(10**9,), ages=(1e9,))))
    admission.plans = FixedPlan(db)
    principal = await authenticator.authenticate(tenant.api_key)
    assert isinstance(principal, TenantPrincipal)
    method, path = MESSAGE_ROUTE

    async def gate() -> None:
        await admission.check_request(principal, method, path)

    samples: list[float] = []

    async def message() -> None:
        message_id = str(uuid.uuid4())
        started = time.perf_counter()
        admitted = await admission.check_request(principal, method, path)
        await admission.admit_turn(admitted, message_id)
        samples.append(time.perf_counter() - started)
        await admission.leases.release(principal.tenant_id, message_id)

    results: dict[str, Any] = {}
    try:
        results["redis PING (baseline)"] = _stats(await _time(redis.ping, iterations, warmup))
        results["request gate (shedding + GCRA)"] = _stats(await _time(gate, iterations, warmup))
        for _ in range(warmup):
            await message()
        samples.clear()
        for _ in range(iterations):
            await message()
        results["message admission (no HTTP)"] = _stats(samples)

        headers = {"Authorization": f"Bearer {tenant.api_key}"}
        url = f"/v1/conversations/{uuid.uuid4()}/messages"
        variants = {
            "ASGI app without admission": "bare",
            "ASGI app, request gate only": "gate",
            "ASGI app with admission": "full",
        }
        async with contextlib.AsyncExitStack() as stack:
            posts: dict[str, Callable[[], Awaitable[None]]] = {}
            for label, mode in variants.items():
                transport = httpx.ASGITransport(app=_message_app(state, admission, mode))
                client = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://b"))

                async def post(client: httpx.AsyncClient = client) -> None:
                    response = await client.post(url, headers=headers)
                    assert response.status_code == 202, response.text

                posts[label] = post
            # Round-robin, so a noisy neighbour on the machine weighs on every variant alike.
            timed = await _time_interleaved(posts, iterations, warmup)
            for label, call in posts.items():
                results[label] = _stats(timed[label])
                results[f"{label}: requests/s at concurrency {concurrency}"] = await _throughput(
                    call, iterations, concurrency
                )
        results[f"message admissions/s at concurrency {concurrency} (no HTTP)"] = await _throughput(
            message, iterations, concurrency
        )
    finally:
        await authenticator.close()
        await redis.aclose()
        await db.close()
    return results


def _report(results: dict[str, Any]) -> None:
    ping = results["redis PING (baseline)"]["p50_us"]
    print("admission decision latency (microseconds), ratios against one Redis PING p50 in the same run")
    for name, value in results.items():
        if isinstance(value, dict):
            print(
                f"{name:<38} p50={value['p50_us']:8.1f}  p99={value['p99_us']:8.1f}"
                f"  p50/PING={value['p50_us'] / ping:5.1f}x"
            )
    bare, admitted = results["ASGI app without admission"], results["ASGI app with admission"]
    print(
        f"{'admission cost through the app':<38} +p50={admitted['p50_us'] - bare['p50_us']:7.1f}"
        f"  +p99={admitted['p99_us'] - bare['p99_us']:7.1f}  ratio p50={admitted['p50_us'] / bare['p50_us']:4.2f}x"
    )
    for name, value in results.items():
        if not isinstance(value, dict):
            print(f"{name:<60} {value:9.0f}")
    p99_ms = results["message admission (no HTTP)"]["p99_us"] / 1000
    verdict = "met" if p99_ms < GOAL_P99_MS else "NOT met"
    print(f"goal: message admission p99 < {GOAL_P99_MS} ms: {verdict} ({p99_ms:.3f} ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with throwaway_stack("aiaas-bench-admission-") as settings:
        results = asyncio.run(_measure(settings, args.iterations, args.warmup, args.concurrency))
    _report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
