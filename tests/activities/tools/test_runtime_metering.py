"""A priced tool through the runtime with the budget guard: reserved before the call, billed once however
many attempts it takes, given back when it fails for good, and refused while the tenant is in safe mode."""

# ruff: noqa: F811  (pytest fixtures imported by name)
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from temporalio.worker import Worker

from activities.tools.runtime import ToolRuntime
from agents.sdk import ToolConflict, ToolContext, ToolRegistry, ToolTransientError, tool
from contracts.agents import Effect
from contracts.tool_calls import ToolCallInput, ToolStatus
from core.events import EventBus
from core.settings import Settings
from db.codec import connect
from db.database import Database, run_sql
from policies.budgets import Budget, save_budget
from policies.metering import build_metering
from tests.activities.tools.runtime_fixtures import (
    FAST_RETRY,
    Outcome,
    RunTool,
    RunToolWorkflow,
    new_tenant,
    redis,  # noqa: F401
)

PRICED = ToolRegistry()
PRICE = Decimal("0.10")
ATTEMPTS: dict[str, int] = {}


class ChargeArgs(BaseModel):
    failures: int = Field(default=0, ge=0, le=3)
    conflict: bool = False


class ChargeOut(BaseModel):
    attempts: int


@tool("tests.priced", description="A paid lookup.", effect=Effect.READ, retry=FAST_RETRY, cost_usd=float(PRICE),
      registry=PRICED)  # fmt: skip
async def priced(ctx: ToolContext, args: ChargeArgs) -> ChargeOut:
    ATTEMPTS[ctx.call_id] = ATTEMPTS.get(ctx.call_id, 0) + 1
    if args.conflict:
        raise ToolConflict("the thing looked up is gone")
    if ATTEMPTS[ctx.call_id] <= args.failures:
        raise ToolTransientError("the paid service hiccuped")
    return ChargeOut(attempts=ATTEMPTS[ctx.call_id])


class Metered:
    def __init__(self, tenant_id: str, db: Database, client: object, queue: str, metering: object) -> None:
        self.tenant_id, self.db, self.client, self.queue, self.metering = tenant_id, db, client, queue, metering

    async def run(self, arguments: dict[str, object]) -> tuple[ToolCallInput, Outcome]:
        spec = PRICED.get("tests.priced")
        assert spec is not None
        call = ToolCallInput(
            tenant_id=self.tenant_id,
            conversation_id=f"c-{uuid.uuid4().hex[:8]}",
            message_id=f"m-{uuid.uuid4().hex[:8]}",
            call_id=f"call-{uuid.uuid4().hex[:8]}",
            tool="tests.priced",
            arguments=arguments,
        )
        outcome = await self.client.execute_workflow(  # type: ignore[attr-defined]
            RunToolWorkflow.run,
            RunTool(activity=spec.activity_name, call=call, retry=spec.spec.retry),
            id=f"{self.tenant_id}:metered:{uuid.uuid4().hex}",
            task_queue=self.queue,
            result_type=Outcome,
        )
        return call, outcome

    async def ledger(self) -> list[tuple[str, Decimal]]:
        async with self.db.tenant_session(self.tenant_id) as session:
            rows = await run_sql(session, "SELECT status, cost_usd FROM usage_ledger WHERE kind = 'tool'")
            return [(r.status, Decimal(r.cost_usd)) for r in rows]


@pytest.fixture
async def metered(migrated: Settings, redis: Redis) -> AsyncIterator[Metered]:
    db = Database(migrated.resolved_app_database_url(), pool_size=4)
    client = await connect(migrated, db=db)
    bus = EventBus(redis)
    metering = build_metering(db, redis, bus, migrated.model_copy(update={"budget_mode_cache_seconds": 0.0}))
    runtime = ToolRuntime(db, redis, bus, None, PRICED, metering=metering, safe_mode_max_cost_usd=0.05)
    queue = f"metered-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[RunToolWorkflow],
        activities=runtime.activities(),
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )
    try:
        async with worker:
            yield Metered(await new_tenant(migrated), db, client, queue, metering)
    finally:
        await db.close()


async def test_a_priced_call_is_billed_once_across_its_attempts(metered: Metered) -> None:
    _call, outcome = await metered.run({"failures": 2})
    assert outcome.result is not None and outcome.result.output == {"attempts": 3}
    assert await metered.ledger() == [("settled", PRICE)]


async def test_a_priced_call_that_fails_for_good_costs_nothing(metered: Metered) -> None:
    _call, outcome = await metered.run({"conflict": True})
    assert outcome.error_type == "ToolConflict"
    assert [status for status, _cost in await metered.ledger()] == ["refunded"]
    spend = await metered.metering.guard.spend(metered.tenant_id)  # type: ignore[attr-defined]
    assert spend.month_usd == 0 and spend.reserved_usd == 0


async def test_safe_mode_refuses_expensive_tools(metered: Metered) -> None:
    async with metered.db.tenant_session(metered.tenant_id) as session:
        # A soft limit already reached: safe mode, not blocked.
        await save_budget(session, metered.tenant_id, Budget(monthly_soft_usd=Decimal(0), monthly_hard_usd=Decimal(5)))
    call, outcome = await metered.run({})
    assert (outcome.error_type, outcome.non_retryable) == ("ToolDenied", True)
    assert "safe mode" in outcome.message
    assert call.call_id not in ATTEMPTS and await metered.ledger() == []
    assert outcome.details and outcome.details[0]["status"] == ToolStatus.DENIED
