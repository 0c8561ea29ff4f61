"""The golden suite on the embedded stack: wall time and pass rate, against plain conversations.

Ours: `EvalRunWorkflow` over every task of `evals/suites/golden` (each a child workflow: a tenant of its own
with the demo world, every turn through the platform's agent loop on `scripted/agent`, then grading and
storage), at `--concurrency` tasks at once. Baseline, same worker, same run: as many plain conversations
(the gateway's update-with-start of `ConversationWorkflow`, one message each: every task's first turn, in
one seeded tenant), at the same concurrency, without a tenant per task and without grading. A baseline
conversation is done when its turn is answered or waits for a person (its `state` query, polled every
`POLL_SECONDS`), and is then terminated.

    python -m benchmarks evals [--concurrency 16] [--every 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
import uuid
from pathlib import Path
from typing import Any

IDLE_SECONDS = 3600.0
POLL_SECONDS = 0.05
WAITING = ("awaiting_approval", "awaiting_confirmation")


async def _baseline(env: Any, tasks: list[Any], concurrency: int) -> float:
    from temporalio.client import WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from commerce.demo import seed_demo
    from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
    from db.database import run_sql
    from evaluation.activities import turn_content
    from evaluation.observe import references
    from tenancy.tenants import create_tenant
    from workflows.conversation import ConversationWorkflow

    settings, client, db, queue = env
    created = await create_tenant(
        settings.database_url, name=f"bench plain {uuid.uuid4().hex[:6]}", plan="pro",
        pepper=settings.api_key_pepper.get_secret_value(),
    )  # fmt: skip
    tenant = created.tenant_id
    refs = references(await seed_demo(db, tenant))
    gate = asyncio.Semaphore(concurrency)

    async def one(task: Any) -> None:
        async with gate:
            conversation_id = str(uuid.uuid4())
            customer = refs[f"customer:{task.customer}"] if task.customer else None
            async with db.tenant_session(tenant) as session:
                await run_sql(
                    session,
                    "INSERT INTO conversations (id, tenant_id, agent, channel, customer_id) VALUES"
                    " (:id, :t, :agent, 'api', :customer)",
                    {"id": conversation_id, "t": tenant, "agent": task.agent, "customer": customer},
                )
            workflow_id = conversation_workflow_id(tenant, conversation_id)
            start = WithStartWorkflowOperation(
                ConversationWorkflow.run,
                ConversationInput(
                    tenant_id=tenant,
                    conversation_id=conversation_id,
                    agent=task.agent,
                    customer_id=customer,
                    idle_timeout_seconds=IDLE_SECONDS,
                ),
                id=workflow_id,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=queue,
            )
            content = turn_content(task, 0, refs, "")
            await client.execute_update_with_start_workflow(
                ConversationWorkflow.submit_message,  # type: ignore[arg-type]
                SubmitMessage(message_id=str(uuid.uuid4()), content=content),
                start_workflow_operation=start,
            )
            handle = await start.workflow_handle()
            # Done when the turn is answered, or waits for a person (a plain conversation has nobody to answer).
            while True:
                state = await handle.query("state")
                if state["turns_completed"] >= 1 or state["status"] in WAITING:
                    break
                await asyncio.sleep(POLL_SECONDS)
            await handle.terminate("benchmark baseline done")

    started = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tasks))
    return time.perf_counter() - started


async def _measure(settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    from app.worker import build_worker
    from db.database import Database
    from db.migrate import migrate
    from evaluation import store
    from evaluation.starter import start_run
    from evaluation.suites import load_suite
    from tenancy.tenants import create_tenant
    from tests.e2e.platform import AGENT_MODELS

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    queue = f"bench-evals-{uuid.uuid4().hex[:6]}"
    worker_settings = settings.model_copy(
        update={"agent_models": json.dumps(AGENT_MODELS), "model_small": "scripted/echo", "model_large": None}
    )
    tasks = load_suite("golden")[:: args.every]
    db = Database(worker_settings.resolved_app_database_url(), pool_size=4)
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            owner = await create_tenant(
                settings.database_url or "", name=f"bench evals {uuid.uuid4().hex[:6]}", plan="pro",
                pepper=settings.api_key_pepper.get_secret_value(),
            )  # fmt: skip
            print(f"golden suite: {len(tasks)} tasks, concurrency {args.concurrency}, model scripted/agent", flush=True)
            # Warm-up: the first model call of a worker loads litellm's provider, the first turn the agents.
            await _baseline((worker_settings, deps.client, db, queue), tasks[:4], args.concurrency)
            plain = await _baseline((worker_settings, deps.client, db, queue), tasks, args.concurrency)
            print(f"baseline done in {plain:.1f} s; running the suite", flush=True)
            started = time.perf_counter()
            run_id, handle = await start_run(
                deps.client, db, tenant_id=owner.tenant_id, suite="golden", tasks=tasks, task_queue=queue,
                concurrency=args.concurrency,
            )  # fmt: skip
            result = await handle.result()
            ours = time.perf_counter() - started
            async with db.tenant_session(owner.tenant_id) as session:
                failed = [r["task_id"] for r in await store.run_results(session, run_id) if not r["passed"]]
    finally:
        await db.close()
    rate = result.passed / result.total
    print(f"baseline: {len(tasks)} plain conversations (first turn each, no grading): {plain:6.1f} s")
    print(f"eval run: {result.total} tasks (all turns, own tenant, graded):          {ours:6.1f} s")
    print(f"ratio eval run/baseline = {ours / plain:.2f}x; per task {ours / result.total * 1000:.0f} ms")
    print(
        f"pass rate {result.passed}/{result.total} = {rate:.1%}" + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return {"tasks": result.total, "passed": result.passed, "eval_seconds": ours, "baseline_seconds": plain}


def main(argv: list[str] | None = None) -> int:
    from core.logging import configure_logging
    from core.settings import Settings
    from core.stack.stack import throwaway_stack

    configure_logging("WARNING", json_output=True)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=int, default=1, help="every n-th task only (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    base = Settings()
    if base.temporal_address and base.database_url and base.redis_url:
        figures = asyncio.run(_measure(base, args))
    else:
        with throwaway_stack("aiaas-bench-evals-", env="test", log_level="WARNING") as settings:
            figures = asyncio.run(_measure(settings, args))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["passed"] == figures["tasks"] else 1


if __name__ == "__main__":
    sys.exit(main())
