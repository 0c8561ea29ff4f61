"""The deploy drill: an incompatible `ConversationWorkflow` released while conversations are open.

Version A is the platform's worker as `aiaas worker` builds it (`app.worker.build_worker`, with
`AIAAS_BUILD_ID=a`). With A current, N conversations each take a turn and stay open. Version B is the same
worker whose `ConversationWorkflow` calls one more activity before every turn (`deploy_change.py`), which no
history written by A can replay. B is made current (`app.deployments.set_current`), then:

1. every open conversation takes a further turn: it is pinned to A, so A's code answers it, then the run
   continues-as-new onto B (the conversation's upgrade point);
2. some of them take one more turn, answered by B's code;
3. new conversations start on B;
4. rollback (`app.deployments.rollback`): new conversations start on A again, and a conversation on B
   answers its next turn on B and then moves back to A.

The baseline is the first round of turns on A alone, in the same run.

    python -m benchmarks deploy_drill --conversations 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Replayer, Worker, WorkerDeploymentConfig

from app.deployments import rollback, set_current
from app.worker import build_worker
from benchmarks.deploy_change import ChangedConversationWorkflow, MarkLog
from contracts.conversation import ConversationInput, SubmitMessage, conversation_workflow_id
from core.crypto import decode_history
from core.settings import Settings
from core.temporal_plugin import aiaas_plugin
from db.database import Database, run_sql
from workflows.conversation import ConversationWorkflow

IDLE_SECONDS = 3600.0
WAIT_SECONDS = 240.0


@dataclass
class DrillResult:
    conversations: int
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Drill:
    client: Client
    db: Database
    tenant_id: str
    queue: str
    concurrency: int

    async def gather(self, work: Callable[[Any], Awaitable[Any]], items: Iterable[Any]) -> list[Any]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: Any) -> Any:
            async with gate:
                return await work(item)

        return list(await asyncio.gather(*(one(item) for item in items)))

    async def open(self, count: int) -> list[WorkflowHandle[Any, Any]]:
        async def one(_: int) -> WorkflowHandle[Any, Any]:
            conversation_id = str(uuid.uuid4())
            async with self.db.tenant_session(self.tenant_id) as session:
                await run_sql(
                    session,
                    "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
                    " created_at, updated_at) VALUES (:id, :tid, 'support', 'api', '{}'::jsonb, 'enqueue', 'open',"
                    " now(), now())",
                    {"id": conversation_id, "tid": self.tenant_id},
                )
            inp = ConversationInput(
                tenant_id=self.tenant_id, conversation_id=conversation_id, idle_timeout_seconds=IDLE_SECONDS
            )
            return await self.client.start_workflow(
                ConversationWorkflow.run,
                inp,
                id=conversation_workflow_id(self.tenant_id, conversation_id),
                task_queue=self.queue,
            )

        return await self.gather(one, range(count))

    async def turn(self, handles: list[WorkflowHandle[Any, Any]]) -> tuple[list[str], float]:
        """One message to each conversation; waits for every answer. Returns the message ids, the seconds."""
        started = time.perf_counter()

        async def send(handle: WorkflowHandle[Any, Any]) -> str:
            message_id = str(uuid.uuid4())
            _ = await handle.execute_update(
                ConversationWorkflow.submit_message, SubmitMessage(message_id=message_id, content="where is it?")
            )
            return message_id

        ids = await self.gather(send, handles)
        await self.answered(ids)
        return ids, time.perf_counter() - started

    async def answered(self, message_ids: list[str]) -> int:
        """How many of the messages are answered, waiting up to WAIT_SECONDS for all of them."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            async with self.db.tenant_session(self.tenant_id) as session:
                found = await run_sql(
                    session,
                    "SELECT count(DISTINCT reply_to) FROM messages WHERE reply_to = ANY(CAST(:ids AS text[]))",
                    {"ids": message_ids},
                )
                done = int(found.scalar_one())
            if done == len(message_ids) or time.monotonic() > deadline:
                return done
            await asyncio.sleep(0.25)

    async def build_ids(self, handles: list[WorkflowHandle[Any, Any]], expect: str) -> list[str]:
        """Each conversation's current run's version, waiting up to WAIT_SECONDS for all to reach `expect`."""
        deadline = time.monotonic() + WAIT_SECONDS

        async def one(handle: WorkflowHandle[Any, Any]) -> str:
            # The handle follows the latest run of the id, so a continued-as-new run is the one described.
            latest = self.client.get_workflow_handle(handle.id)
            info = (await latest.describe()).raw_description.workflow_execution_info
            return str(info.versioning_info.deployment_version.build_id)

        while True:
            found = await self.gather(one, handles)
            if all(b == expect for b in found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.25)


def _changed_worker(worker: Worker, deployment: str, marks: MarkLog) -> Worker:
    """Version B: the same worker, with the changed conversation workflow and its extra activity."""
    config = worker.config()
    config["workflows"] = [
        ChangedConversationWorkflow if issubclass(wf, ConversationWorkflow) else wf
        for wf in config.get("workflows", [])
    ]
    config["activities"] = [*config.get("activities", []), marks.mark]
    config["deployment_config"] = WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(deployment_name=deployment, build_id="b"), use_worker_versioning=True
    )
    return Worker(**config)


async def run_drill(
    settings: Settings, tenant_id: str, *, conversations: int = 50, further: int = 10, fresh: int = 5
) -> DrillResult:
    tag = uuid.uuid4().hex[:8]
    deployment, queue = f"drill-{tag}", f"drill-{tag}"
    settings_a = settings.model_copy(update={"deployment_name": deployment, "build_id": "a", "task_queue": queue})
    result = DrillResult(conversations=conversations)
    t, c = result.timings, result.counts
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    marks = MarkLog()
    try:
        async with build_worker(settings_a, task_queue=queue) as deps, deps.worker:
            drill = _Drill(deps.client, db, tenant_id, queue, concurrency=16)
            await set_current(deps.client, deployment, "a", wait_seconds=60)
            open_ = await drill.open(conversations)
            _, t["first turn on A alone (baseline)"] = await drill.turn(open_)
            async with _changed_worker(deps.worker, deployment, marks):
                started = time.perf_counter()
                await set_current(deps.client, deployment, "b", wait_seconds=60)
                t["set B current"] = time.perf_counter() - started
                ids, t["further turn in each, B current"] = await drill.turn(open_)
                c["further turns answered"] = await drill.answered(ids)
                c["further turns run by B's code"] = len(marks.message_ids & set(ids))
                c["open conversations moved to B"] = (await drill.build_ids(open_, "b")).count("b")
                ids, t["next turn, on B"] = await drill.turn(open_[:further])
                c["next turns run by B's code"] = len(marks.message_ids & set(ids))
                new = await drill.open(fresh)
                ids, _ = await drill.turn(new)
                c["new conversations on B"] = (await drill.build_ids(new, "b")).count("b")
                c["new conversations' turns run by B's code"] = len(marks.message_ids & set(ids))
                started = time.perf_counter()
                c["rolled back to A"] = int(await rollback(deps.client, deployment) == "a")
                t["rollback"] = time.perf_counter() - started
                back = await drill.open(fresh)
                ids, _ = await drill.turn(back)
                c["new conversations on A after rollback"] = (await drill.build_ids(back, "a")).count("a")
                c["their turns run by B's code"] = len(marks.message_ids & set(ids))
                ids, _ = await drill.turn(new)
                c["B conversations answered after rollback"] = await drill.answered(ids)
                c["B conversations moved back to A"] = (await drill.build_ids(new, "a")).count("a")
                c["failed runs"] = await _failed_runs(deps.client, queue)
                replays = [await _replays(deps.client, handle) for handle in open_[:3]]
                c["A's first runs replaying on A's code"] = sum(on_a for on_a, _ in replays)
                c["A's first runs replaying on B's code"] = sum(on_b for _, on_b in replays)
    finally:
        await db.close()
    return result


async def _failed_runs(client: Client, queue: str) -> int:
    """Runs of the drill's queue that failed, were terminated or timed out (none may)."""
    query = f"TaskQueue = '{queue}' AND ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut')"
    count = await client.count_workflows(query)
    return count.count


async def _replays(client: Client, handle: WorkflowHandle[Any, Any]) -> tuple[bool, bool]:
    """Whether the conversation's first run (A's, ended by the move to B) replays on A's code and on B's.

    The second must not: it is what makes the change incompatible, and why pinning is needed."""
    first = client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    history = await decode_history(await first.fetch_history(), client.data_converter.payload_codec)
    assert history.events[-1].HasField("workflow_execution_continued_as_new_event_attributes")
    outcomes = []
    for workflow_class in (ConversationWorkflow, ChangedConversationWorkflow):
        replayer = Replayer(workflows=[workflow_class], plugins=[aiaas_plugin()])
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        outcomes.append(replayed.replay_failure is None)
    return outcomes[0], outcomes[1]


def _report(result: DrillResult) -> None:
    baseline = result.timings["first turn on A alone (baseline)"]
    print(f"deploy drill: {result.conversations} open conversations, incompatible ConversationWorkflow as B")
    for name, seconds in result.timings.items():
        ratio = f"  ({seconds / baseline:.2f}x baseline)" if "turn" in name and seconds != baseline else ""
        print(f"  {name:<40} {seconds:7.2f} s{ratio}")
    for name, count in result.counts.items():
        print(f"  {name:<40} {count:7d}")


def main(argv: list[str] | None = None) -> int:
    from core.logging import configure_logging
    from core.stack.stack import throwaway_stack
    from db.migrate import migrate
    from tenancy.tenants import create_tenant

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=50, help="conversations open during the deploy")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)  # a line per activity would bury the figures
    models = {"agent_models": json.dumps({"support": "scripted/echo"}), "model_small": "scripted/echo"}
    with throwaway_stack("aiaas-bench-deploy-", task_queue="unused", **models) as stack_settings:
        settings = stack_settings.model_copy(update={"model_large": None})  # every turn on the scripted model

        async def go() -> DrillResult:
            await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
            created = await create_tenant(
                settings.database_url or "",
                name="Deploy drill",
                plan="enterprise",
                pepper=settings.api_key_pepper.get_secret_value(),
            )
            return await run_drill(settings, created.tenant_id, conversations=args.conversations)

        result = asyncio.run(go())
    _report(result)
    failed = result.conversations - result.counts["further turns answered"] + result.counts["failed runs"]
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
