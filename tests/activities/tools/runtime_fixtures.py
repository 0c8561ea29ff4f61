"""Fixtures for the tool runtime tests: test-only tools, a fresh tenant, and a worker running them.

The tools live in a private `ToolRegistry`, never the platform's, and keep what they saw (attempts,
idempotency keys, effects) in `LEDGER`, keyed by call id: the worker runs in this process and this loop.
A tiny unsandboxed workflow executes one tool activity by name with the tool's own retry policy and hands
back either the result or the error the workflow saw.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

from activities.tools.runtime import ToolRuntime
from agents.sdk import ToolContext, ToolDenied, ToolRegistry, ToolTransientError, tool
from contracts.agents import Effect, RetrySpec
from contracts.tool_calls import ToolCallInput, ToolCallResult
from core.events import Event, EventBus
from core.settings import Settings
from db.codec import connect
from db.database import Database
from policies.circuit_breaker import CircuitBreaker

TEST_TOOLS = ToolRegistry()
FAST_RETRY = RetrySpec(max_attempts=5, initial_interval_seconds=0.05, backoff=1.0, max_interval_seconds=0.1)


@dataclass
class Seen:
    attempts: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    effects: set[str] = field(default_factory=set)


LEDGER: dict[str, Seen] = defaultdict(Seen)
# `tests.slow`: how many run at once, and a gate the test opens when it has seen what it waits for.
INSIDE: dict[str, int] = defaultdict(int)
MAX_INSIDE: dict[str, int] = defaultdict(int)
GATES: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
# `tests.crash` crashes until its tenant is marked healthy.
HEALTHY: set[str] = set()


def _see(ctx: ToolContext) -> Seen:
    seen = LEDGER[ctx.call_id]
    seen.attempts.append(ctx.attempt)
    seen.keys.append(ctx.idempotency_key)
    return seen


class EchoArgs(BaseModel):
    text: str = Field(max_length=40)
    times: int = Field(default=1, ge=1, le=5)


class EchoOut(BaseModel):
    text: str


@tool("tests.echo", description="Echo the text.", effect=Effect.READ, retry=FAST_RETRY, registry=TEST_TOOLS)
async def echo(ctx: ToolContext, args: EchoArgs) -> EchoOut:
    _see(ctx)
    return EchoOut(text=args.text * args.times)


class FlakyArgs(BaseModel):
    failures: int = Field(ge=0, le=4)


class FlakyOut(BaseModel):
    effects: int


@tool("tests.flaky", description="Fail transiently, then write once.", effect=Effect.WRITE, retry=FAST_RETRY,
      registry=TEST_TOOLS)  # fmt: skip
async def flaky(ctx: ToolContext, args: FlakyArgs) -> FlakyOut:
    seen = _see(ctx)
    if len(seen.attempts) <= args.failures:
        raise ToolTransientError("the ledger is briefly unavailable")
    # The effect is keyed by the idempotency key, as a real write would be: a repeat changes nothing.
    seen.effects.add(ctx.idempotency_key)
    return FlakyOut(effects=len(seen.effects))


class OrderArgs(BaseModel):
    order_id: str


@tool("tests.deny", description="Refuse.", effect=Effect.WRITE, retry=FAST_RETRY, registry=TEST_TOOLS)
async def deny(ctx: ToolContext, args: OrderArgs) -> EchoOut:
    _see(ctx)
    raise ToolDenied("that order belongs to another customer", details={"order_id": args.order_id})


@tool("tests.crash", description="Crash until healthy.", effect=Effect.READ, registry=TEST_TOOLS,
      retry=RetrySpec(max_attempts=1))  # fmt: skip
async def crash(ctx: ToolContext, args: OrderArgs) -> EchoOut:
    _see(ctx)
    if ctx.tenant_id not in HEALTHY:
        raise RuntimeError("connection to db failed: password=hunter2")
    return EchoOut(text="healthy")


class SlowArgs(BaseModel):
    gate: str


@tool("tests.slow", description="Wait for the gate.", effect=Effect.READ, max_concurrent=2, timeout_seconds=60,
      registry=TEST_TOOLS, retry=RetrySpec(max_attempts=20, initial_interval_seconds=0.2, backoff=1.0))  # fmt: skip
async def slow(ctx: ToolContext, args: SlowArgs) -> EchoOut:
    _see(ctx)
    INSIDE[args.gate] += 1
    MAX_INSIDE[args.gate] = max(MAX_INSIDE[args.gate], INSIDE[args.gate])
    try:
        await GATES[args.gate].wait()
    finally:
        INSIDE[args.gate] -= 1
    return EchoOut(text="done")


class RunTool(BaseModel):
    activity: str
    call: ToolCallInput
    retry: RetrySpec
    timeout_seconds: float = 30.0


class Outcome(BaseModel):
    result: ToolCallResult | None = None
    error_type: str = ""
    message: str = ""
    non_retryable: bool = False
    details: list[Any] = Field(default_factory=list)


@workflow.defn(name="ToolRuntimeTestWorkflow", sandboxed=False)
class RunToolWorkflow:
    @workflow.run
    async def run(self, inp: RunTool) -> Outcome:
        try:
            result = await workflow.execute_activity(
                inp.activity,
                inp.call,
                result_type=ToolCallResult,
                start_to_close_timeout=timedelta(seconds=inp.timeout_seconds),
                retry_policy=inp.retry.policy(),
            )
        except ActivityError as err:
            cause = err.cause
            if not isinstance(cause, ApplicationError):
                raise
            return Outcome(
                error_type=cause.type or "",
                message=cause.message,
                non_retryable=cause.non_retryable,
                details=list(cause.details),
            )
        return Outcome(result=result)


@dataclass
class ToolHarness:
    tenant_id: str
    db: Database
    redis: Redis
    bus: EventBus
    client: Client
    runtime: ToolRuntime
    breaker: CircuitBreaker
    queue: str

    def call(self, name: str, arguments: dict[str, Any], **fields: Any) -> ToolCallInput:
        spec = TEST_TOOLS.get(name)
        assert spec is not None
        values: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "conversation_id": f"c-{uuid.uuid4().hex[:8]}",
            "message_id": f"m-{uuid.uuid4().hex[:8]}",
            "call_id": f"call-{uuid.uuid4().hex[:8]}",
            "tool": name,
            "version": spec.spec.version,
            "arguments": arguments,
        }
        values.update(fields)
        return ToolCallInput(**values)

    async def run(self, call: ToolCallInput, *, activity: str | None = None) -> Outcome:
        spec = TEST_TOOLS.get(call.tool)
        assert spec is not None
        return await self.client.execute_workflow(
            RunToolWorkflow.run,
            RunTool(activity=activity or spec.activity_name, call=call, retry=spec.spec.retry),
            id=f"{self.tenant_id}:tooltest:{uuid.uuid4().hex}",
            task_queue=self.queue,
            result_type=Outcome,
        )

    async def events(self, call: ToolCallInput) -> list[Event]:
        return await self.bus.history(call.tenant_id, call.conversation_id)


async def new_tenant(settings: Settings) -> str:
    from tenancy.tenants import create_tenant

    created = await create_tenant(
        settings.database_url or "",
        name=f"Tools {uuid.uuid4().hex[:8]}",
        plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id


@pytest.fixture
async def redis(migrated: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(migrated.redis_url or "", decode_responses=False)
    yield client
    await client.aclose()


@pytest.fixture
async def harness(migrated: Settings, redis: Redis, request: pytest.FixtureRequest) -> AsyncIterator[ToolHarness]:
    db = Database(migrated.resolved_app_database_url(), pool_size=4)
    client = await connect(migrated, db=db)
    bus = EventBus(redis)
    # Opens after 2 failures, for the breaker's own tests; a test whose retries must not race a circuit that
    # opens under them asks for more with `@pytest.mark.breaker_threshold(n)`.
    marker = request.node.get_closest_marker("breaker_threshold")
    threshold = int(marker.args[0]) if marker else 2
    # Open for 3 s: long enough that a busy machine makes the next call while it is still open.
    breaker = CircuitBreaker(redis, failure_threshold=threshold, window_seconds=30, open_seconds=3.0)
    runtime = ToolRuntime(db, redis, bus, None, TEST_TOOLS, breaker=breaker)
    queue = f"tools-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[RunToolWorkflow],
        activities=runtime.activities(),
        max_heartbeat_throttle_interval=timedelta(seconds=1),
    )
    try:
        async with worker:
            yield ToolHarness(await new_tenant(migrated), db, redis, bus, client, runtime, breaker, queue)
    finally:
        await db.close()
