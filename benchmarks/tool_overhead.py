"""What the tool runtime costs per call: a no-op tool through the runtime against a bare no-op activity.

Both run on the same embedded stack, worker, client (and payload codec), called one after another from a
workflow with the same input and result types. The bare activity only builds its result; the tool passes
every check of a real call: enablement (cached), argument validation, circuit breaker and bulkhead (Redis),
`tool.started` and `tool.completed` (Redis streams), its step row (Postgres, a durable commit).

Two figures per side: the latency the workflow sees per call (the time between the workflow tasks that
schedule a call and receive its result, so Temporal's own round trip is in both), and the time spent inside
the activity itself, which isolates what the runtime adds. The two series alternate in rounds, so load from
anything else on the machine falls on both alike.

    python -m benchmarks.tool_overhead --calls 300 --rounds 6
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from redis.asyncio import Redis
from temporalio import activity, workflow
from temporalio.worker import Worker

from activities.tools.runtime import ToolRuntime
from agents.sdk import Tool, ToolContext, ToolRegistry, tool
from contracts.agents import Effect
from contracts.tool_calls import ToolCallInput, ToolCallResult, ToolStatus
from core.events import EventBus
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.codec import connect
from db.database import Database

BENCH_TOOLS = ToolRegistry()
TOOL_ACTIVITY = "tools.bench.noop.v1"
BARE_ACTIVITY = "bench.bare_noop"


class NoopArgs(BaseModel):
    value: str = ""


class NoopOut(BaseModel):
    value: str


@tool("bench.noop", description="Do nothing.", effect=Effect.READ, max_concurrent=64, registry=BENCH_TOOLS)
async def noop_tool(ctx: ToolContext, args: NoopArgs) -> NoopOut:
    return NoopOut(value=args.value)


INSIDE: dict[str, list[float]] = {"bare": [], "tool": []}


@activity.defn(name=BARE_ACTIVITY)
async def bare_noop(inp: ToolCallInput) -> ToolCallResult:
    started = time.perf_counter()
    try:
        return ToolCallResult(call_id=inp.call_id, tool=inp.tool, status=ToolStatus.OK, output=dict(inp.arguments))
    finally:
        INSIDE["bare"].append((time.perf_counter() - started) * 1000)


class TimedRuntime(ToolRuntime):
    async def call(self, item: Tool, inp: ToolCallInput) -> ToolCallResult:
        started = time.perf_counter()
        try:
            return await super().call(item, inp)
        finally:
            INSIDE["tool"].append((time.perf_counter() - started) * 1000)


class Series(BaseModel):
    activity: str
    tenant_id: str
    calls: int


@workflow.defn(name="BenchToolOverheadWorkflow", sandboxed=False)
class ToolOverheadWorkflow:
    @workflow.run
    async def run(self, inp: Series) -> list[float]:
        """Milliseconds per call, from the workflow's clock (advanced per workflow task)."""
        latencies: list[float] = []
        message_id = str(workflow.uuid4())
        for n in range(inp.calls):
            call = ToolCallInput(
                tenant_id=inp.tenant_id,
                conversation_id="bench",
                message_id=message_id,
                call_id=f"call-{n}",
                tool="bench.noop",
                arguments={"value": f"v{n}"},
                step=n,
            )
            started = workflow.time_ns()
            await workflow.execute_activity(
                inp.activity, call, result_type=ToolCallResult, start_to_close_timeout=timedelta(seconds=30)
            )
            latencies.append((workflow.time_ns() - started) / 1e6)
        return latencies


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": statistics.median(ordered), "p95": q[94], "p99": q[98], "mean": statistics.fmean(ordered)}


def _report(name: str, samples: list[float]) -> dict[str, float]:
    stats = percentiles(samples)
    print(
        f"{name:<14} n={len(samples):<5} p50={stats['p50']:7.2f} ms  p95={stats['p95']:7.2f} ms  "
        f"p99={stats['p99']:7.2f} ms  mean={stats['mean']:7.2f} ms"
    )
    return stats


async def _measure(settings: Settings, calls: int, rounds: int, warmup: int) -> dict[str, object]:
    from db.migrate import migrate
    from tenancy.tenants import create_tenant

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    tenant_id = (
        await create_tenant(
            settings.database_url or "", name="bench tools", pepper=settings.api_key_pepper.get_secret_value()
        )
    ).tenant_id
    db = Database(settings.resolved_app_database_url())
    redis = Redis.from_url(settings.redis_url or "", decode_responses=False)
    seen: dict[str, list[float]] = {"bare": [], "tool": []}
    try:
        client = await connect(settings, db=db)
        runtime = TimedRuntime(db, redis, EventBus(redis), None, BENCH_TOOLS)
        queue = f"bench-tools-{uuid.uuid4().hex[:6]}"
        activities = [bare_noop, *runtime.activities()]
        async with Worker(client, task_queue=queue, workflows=[ToolOverheadWorkflow], activities=activities):

            async def series(name: str, count: int) -> list[float]:
                return await client.execute_workflow(
                    ToolOverheadWorkflow.run,
                    Series(activity=name, tenant_id=tenant_id, calls=count),
                    id=f"{tenant_id}:bench:{uuid.uuid4().hex}",
                    task_queue=queue,
                )

            await series(BARE_ACTIVITY, warmup)
            await series(TOOL_ACTIVITY, warmup)
            for samples in INSIDE.values():
                samples.clear()
            per_round = max(calls // rounds, 1)
            for _ in range(rounds):
                seen["bare"] += await series(BARE_ACTIVITY, per_round)
                seen["tool"] += await series(TOOL_ACTIVITY, per_round)
    finally:
        await db.close()
        await redis.aclose()
    print(f"tool runtime overhead, {len(seen['tool'])} sequential calls each in {rounds} alternating rounds")
    bare = _report("bare (seen)", seen["bare"])
    tooled = _report("tool (seen)", seen["tool"])
    bare_inside = _report("bare (inside)", INSIDE["bare"])
    tool_inside = _report("tool (inside)", INSIDE["tool"])
    ratio = tooled["p50"] / bare["p50"]
    print(f"ratio p50 tool/bare as the workflow sees it = {ratio:.2f}x, p99 = {tooled['p99'] / bare['p99']:.2f}x")
    print(f"added inside the activity per call: p50 {tool_inside['p50'] - bare_inside['p50']:.2f} ms")
    return {
        "calls": len(seen["tool"]),
        "bare": bare,
        "tool": tooled,
        "bare_inside": bare_inside,
        "tool_inside": tool_inside,
        "p50_ratio": ratio,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    with throwaway_stack("aiaas-bench-tools-", task_queue=f"bench-{uuid.uuid4().hex[:6]}") as settings:
        figures = asyncio.run(_measure(settings, args.calls, args.rounds, args.warmup))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
