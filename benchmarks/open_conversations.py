"""Many open conversations in one worker process: its memory and how often the sticky cache serves a turn.

One worker process (with the SDK's metrics, `benchmarks.metered_worker`) and one gateway. Every conversation
gets one turn, which leaves its workflow open and cached in the worker; then every one gets a second turn,
and the SDK's sticky-cache hits and misses over that round give the hit rate. Baseline, same run: the same
worker's memory after a single warm-up conversation, so the growth per open conversation is what it adds.

    python -m benchmarks conversations --conversations 1000
    python -m benchmarks conversations --conversations 1000 --strict-sandbox
    python -m benchmarks conversations --conversations 1000 --role workflows

`--strict-sandbox` imports the workflow modules once per workflow run, as workers did before the shared
sandbox (`AIAAS_WORKFLOW_SANDBOX_SHARED=false`); `--cache N` sets the worker's sticky cache size.
`--heap-dir DIR` makes the measured worker trace its allocations and write a
tracemalloc snapshot and its live objects' type counts into DIR with one conversation and with all open
(it runs slower meanwhile).
`--role workflows` measures a workflows-role worker (`aiaas worker --role workflows`), with an
activities-role worker beside it on the same queue running the model calls and tools. Either way an idle
`aiaas worker` of the default role (all) runs on a queue of its own as a same-run baseline of idle memory.
Then, on the same server, a bare worker opens as many runs of the bare workflow (`benchmarks/bare_runs.py`;
`--no-bare` skips it): what any cached run costs the SDK, against what an open conversation costs.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.bare_runs import measure as measure_bare
from benchmarks.platform_processes import running_platform
from benchmarks.turn_latency import _post_message
from core.stack.ports import free_port
from core.stack.process import ManagedProcess
from core.stack.stack import throwaway_stack


def _counters(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if "sticky_cache" in name or name.startswith("aiaas_turns_finished"):
                found[name] = found.get(name, 0.0) + sample.value
    return found


async def _metrics(client: httpx.AsyncClient, *urls: str) -> dict[str, float]:
    merged: dict[str, float] = {}
    for url in urls:
        merged.update(_counters((await client.get(url)).text))
    return merged


def _finished(figures: dict[str, float]) -> float:
    return sum(v for k, v in figures.items() if k.startswith("aiaas_turns_finished") and k.endswith("_total"))


async def _round(
    client: httpx.AsyncClient, conversations: list[str], urls: tuple[str, str], concurrency: int
) -> dict[str, float]:
    """One turn in each conversation; returns the counters once every turn has finished."""
    target = _finished(await _metrics(client, *urls)) + len(conversations)
    gate = asyncio.Semaphore(concurrency)
    retries: list[str] = []

    async def send(conversation: str) -> None:
        async with gate:
            await _post_message(client, conversation, "hello", retries)

    await asyncio.gather(*(send(c) for c in conversations))
    while True:
        figures = await _metrics(client, *urls)
        if _finished(figures) >= target:
            return figures
        await asyncio.sleep(0.5)


async def _measure(
    base_url: str, api_key: str, worker: psutil.Process, urls: tuple[str, str], args: argparse.Namespace
) -> None:
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        create = asyncio.Semaphore(32)

        async def new() -> str:
            async with create:
                return str((await client.post("/v1/conversations", json={})).json()["id"])

        rss_idle = worker.memory_info().rss / 2**20
        warm = [await new()]
        await _round(client, warm, urls, 1)
        rss_warm = worker.memory_info().rss / 2**20
        await _heap_dump(worker, args.heap_dir, 1)
        conversations = await asyncio.gather(*(new() for _ in range(args.conversations)))
        started = time.perf_counter()
        first = await _round(client, list(conversations), urls, args.concurrency)
        opened = time.perf_counter() - started
        rss_open = worker.memory_info().rss / 2**20
        await _heap_dump(worker, args.heap_dir, 2)
        second = await _round(client, list(conversations), urls, args.concurrency)
        rss_after = worker.memory_info().rss / 2**20
    hits = sum(v for k, v in second.items() if "sticky_cache_hit" in k) - sum(
        v for k, v in first.items() if "sticky_cache_hit" in k
    )
    misses = sum(v for k, v in second.items() if "sticky_cache_miss" in k) - sum(
        v for k, v in first.items() if "sticky_cache_miss" in k
    )
    size = next((v for k, v in second.items() if "sticky_cache_size" in k), float("nan"))
    n = args.conversations
    print(f"  opened {n} conversations (one turn each) in {opened:.1f} s")
    print(f"  worker RSS idle (ready, no conversation yet): {rss_idle:.0f} MiB")
    print(f"  baseline  worker RSS with 1 conversation: {rss_warm:.0f} MiB")
    print(f"  worker RSS with {n} open: {rss_open:.0f} MiB (+{(rss_open - rss_warm) * 1024 / n:.0f} KiB each)")
    print(f"  worker RSS after a second turn in each: {rss_after:.0f} MiB")
    rate = hits / (hits + misses) if hits + misses else float("nan")
    print(f"  sticky cache over the second round: {hits:.0f} hits, {misses:.0f} misses, hit rate {rate:.1%}")
    print(f"  sticky cache size: {size:.0f} workflows")


async def _heap_dump(worker: psutil.Process, directory: str | None, number: int) -> None:
    """With `--heap-dir`, the worker writes its allocations and object counts there (`metered_worker`)."""
    if not directory:
        return
    worker.send_signal(signal.SIGUSR1)
    while not (Path(directory) / f"done-{number}").exists():  # noqa: ASYNC110 - another process writes it
        await asyncio.sleep(0.5)
    print(f"  heap snapshot {number} written to {directory}")


def _idle_rss(managed: ManagedProcess, timeout: float = 180.0) -> float:
    """A worker's RSS once it has settled (under 1 MiB of growth over 5 s): started, polling, nothing to do."""
    process = psutil.Process(managed.pid)
    deadline = time.monotonic() + timeout
    last = process.memory_info().rss
    while time.monotonic() < deadline:
        time.sleep(5.0)
        now = process.memory_info().rss
        if now - last < 2**20:
            return now / 2**20
        last = now
    return last / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8, help="messages in flight while opening")
    parser.add_argument("--cache", type=int, default=1000, help="the worker's sticky cache size (workflows)")
    parser.add_argument("--strict-sandbox", action="store_true", help="import workflow modules once per run")
    parser.add_argument("--role", choices=("all", "workflows"), default="all", help="the measured worker's role")
    parser.add_argument(
        "--heap-dir",
        default=None,
        help="trace the measured worker's allocations and write snapshots (1 conversation, all open) here",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare worker's baseline")
    args = parser.parse_args(argv)
    with throwaway_stack("aiaas-bench-conv-", task_queue=f"bench-{uuid.uuid4().hex[:6]}") as settings:
        sandbox = "strict sandbox" if args.strict_sandbox else "shared sandbox"
        print(
            f"conversations: {args.conversations} open in one worker process "
            f"(role {args.role}, {sandbox}, cache {args.cache})"
        )
        sdk_port, app_port = free_port(), free_port()
        with running_platform(settings, 0, 1) as platform:
            env = {
                **platform.env,
                "AIAAS_WORKER_METRICS_PORT": str(app_port),
                "AIAAS_WORKFLOW_SANDBOX_SHARED": "false" if args.strict_sandbox else "true",
                "AIAAS_WORKFLOW_CACHE_SIZE": str(args.cache),
                "AIAAS_WORKER_ROLE": args.role,
            }
            if args.heap_dir:
                Path(args.heap_dir).mkdir(parents=True, exist_ok=True)
                env["AIAAS_BENCH_HEAP_DIR"] = str(Path(args.heap_dir).resolve())
            worker = ManagedProcess(
                "bench-metered-worker",
                [sys.executable, "-m", "benchmarks.metered_worker", str(sdk_port)],
                data_dir=settings.data_dir,
                env=env,
            )
            # The baseline: a default worker polling a queue nobody sends to, so it stays idle.
            idle_env = {**platform.env, "AIAAS_TASK_QUEUE": f"{settings.task_queue}-idle"}
            baseline = ManagedProcess(
                "bench-idle-worker",
                [sys.executable, "-m", "app.cli", "worker", "--role", "all"],
                data_dir=settings.data_dir,
                env=idle_env,
            )
            helpers = [baseline]
            if args.role == "workflows":
                helpers.append(
                    ManagedProcess(
                        "bench-activities-worker",
                        [sys.executable, "-m", "app.cli", "worker", "--role", "activities"],
                        data_dir=settings.data_dir,
                        env=platform.env,
                    )
                )
            try:
                for managed in (worker, *helpers):
                    managed.start()
                urls = (f"http://127.0.0.1:{sdk_port}/metrics", f"http://127.0.0.1:{app_port}/metrics")
                worker.wait_ready(lambda: httpx.get(urls[1]).status_code == 200, timeout=300)
                idle = _idle_rss(baseline)
                print(f"  baseline  idle RSS of a worker of role all (same run): {idle:.0f} MiB")
                if args.role == "workflows":
                    print(f"  idle RSS of the activities-role worker beside it: {_idle_rss(helpers[1]):.0f} MiB")
                _idle_rss(worker)
                asyncio.run(_measure(platform.base_url, platform.api_key, psutil.Process(worker.pid), urls, args))
            finally:
                for managed in reversed((worker, *helpers)):
                    managed.stop()
        if not args.no_bare:
            bare = measure_bare(settings.temporal_address or "", args.conversations, args.cache, args.concurrency)
            print(
                f"  baseline  bare worker, {bare.runs} open runs of the bare workflow (update + no-op activity): "
                f"idle {bare.idle:.0f} MiB, 1 run {bare.one:.0f} MiB, {bare.runs} open {bare.open:.0f} MiB "
                f"(+{bare.per_run_kib:.0f} KiB each), after a second update {bare.after_second:.0f} MiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
