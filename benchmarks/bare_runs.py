"""The bare baseline of `python -m benchmarks conversations`: open runs of a bare workflow in a bare worker.

The worker (`python -m benchmarks.bare_runs ADDRESS QUEUE CACHE`) is the SDK's own `Worker` with its defaults
(the full sandbox, which imports the workflow's module for every run) running `BaselineWorkflow` and its no-op
activity, nothing of the platform. `measure` opens N runs on the same server, each with one update that runs
one activity, and reports the worker's memory as the conversations benchmark does for a platform worker, so
the growth per open run compares directly: what the SDK and its core hold for any cached run, against what an
open conversation holds.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

import psutil
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

from benchmarks.baseline_workflow import BaselineWorkflow, noop


@dataclass(frozen=True)
class BareMemory:
    idle: float
    one: float
    open: float
    after_second: float
    runs: int

    @property
    def per_run_kib(self) -> float:
        return (self.open - self.one) * 1024 / self.runs


async def _worker(address: str, queue: str, cache: int) -> None:
    client = await Client.connect(address)
    async with Worker(
        client, task_queue=queue, workflows=[BaselineWorkflow], activities=[noop], max_cached_workflows=cache
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


async def _open(address: str, queue: str, process: psutil.Process, runs: int, concurrency: int) -> BareMemory:
    client = await Client.connect(address)
    gate = asyncio.Semaphore(concurrency)
    prefix = f"bare-{uuid.uuid4().hex[:6]}"

    def rss() -> float:
        return float(process.memory_info().rss) / 2**20

    async def first(n: int) -> None:
        async with gate:
            start = WithStartWorkflowOperation(
                BaselineWorkflow.run,
                id=f"{prefix}-{n}",
                task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            await client.execute_update_with_start_workflow(
                BaselineWorkflow.turn, "hello", start_workflow_operation=start
            )

    async def second(n: int) -> None:
        async with gate:
            await client.get_workflow_handle(f"{prefix}-{n}").execute_update(BaselineWorkflow.turn, "again")

    await asyncio.sleep(5.0)
    idle = rss()
    await first(-1)
    await asyncio.sleep(1.0)
    one = rss()
    await asyncio.gather(*(first(n) for n in range(runs)))
    await asyncio.sleep(2.0)
    opened = rss()
    await asyncio.gather(*(second(n) for n in range(-1, runs)))
    await asyncio.sleep(2.0)
    return BareMemory(idle, one, opened, rss(), runs)


def measure(address: str, runs: int, cache: int, concurrency: int = 8) -> BareMemory:
    """Starts the bare worker on a queue of its own, opens `runs` runs on it and stops it."""
    queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "benchmarks.bare_runs", address, queue, str(cache)]
    worker = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        assert worker.stdout is not None
        while worker.stdout.readline().strip() != "ready":
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the bare worker did not start")
        return asyncio.run(_open(address, queue, psutil.Process(worker.pid), runs, concurrency))
    finally:
        worker.terminate()
        worker.wait(timeout=30)


if __name__ == "__main__":
    asyncio.run(_worker(sys.argv[1], sys.argv[2], int(sys.argv[3])))
