"""Open event streams per gateway process: many idle SSE connections plus a few busy conversations.

One gateway process (no worker: the benchmark publishes the events itself, as activities do) holds
`--idle` SSE streams that receive nothing and `--active` streams whose conversations get an event every
`--interval` seconds. Delivery latency is measured from the event's write (a timestamp in its data, taken
just before the publish) to the line reaching the client. Baseline, same run, same events: one bare Redis
`XREAD BLOCK` reader per active conversation in this process, the floor any gateway can reach. Also prints
the gateway's resident memory, idle and loaded, and the Redis connections it holds.

    python -m benchmarks sse --idle 2000 --active 50 --seconds 20
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
from typing import Any

import httpx
import psutil
from redis.asyncio import Redis

from benchmarks.platform_processes import Platform, running_platform
from benchmarks.turn_latency import create_conversation
from contracts.events import EventType
from core.events import EventBus, stream_key
from core.redis_clients import blocking_client, command_client
from core.settings import Settings
from core.stack.stack import throwaway_stack


def _percentiles(samples: list[float]) -> str:
    if len(samples) < 2:
        return f"n={len(samples)}"
    q = statistics.quantiles(sorted(samples), n=100, method="inclusive")
    return f"n={len(samples):<6} p50={statistics.median(samples) * 1000:7.1f} ms  p95={q[94] * 1000:7.1f} ms"


async def _open(
    client: httpx.AsyncClient,
    conversation: str,
    latencies: list[float] | None,
    opened: list[int],
    connecting: asyncio.Semaphore,
) -> None:
    await connecting.acquire()
    try:
        stream_context = client.stream("GET", f"/v1/conversations/{conversation}/events")
        stream = await stream_context.__aenter__()
    finally:
        connecting.release()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_exit(stream_context)
        if stream.status_code != 200:
            body = (await stream.aread()).decode(errors="replace")[:200]
            raise RuntimeError(f"stream refused: {stream.status_code} {body}")
        opened.append(1)
        async for line in stream.aiter_lines():
            if latencies is not None and line.startswith("data: ") and '"sent"' in line:
                latencies.append(time.time() - json.loads(line[6:])["data"]["sent"])


async def _bare_reader(redis: Redis, key: str, latencies: list[float], stop: asyncio.Event) -> None:
    cursor = "$"
    while not stop.is_set():
        reply: Any = await redis.xread({key: cursor}, block=1000, count=100)
        for _stream, entries in reply or []:
            for raw_id, fields in entries:
                cursor = raw_id.decode()
                latencies.append(time.time() - json.loads(fields[b"data"])["sent"])


async def _measure(settings: Settings, platform: Platform, args: argparse.Namespace) -> None:
    base_url, api_key, tenant = platform.base_url, platform.api_key, platform.tenant_id
    gateway_pid = platform.gateways[0].pid or 0
    headers = {"Authorization": f"Bearer {api_key}"}
    limits = httpx.Limits(max_connections=args.idle + args.active + 20, max_keepalive_connections=0)
    timeout = httpx.Timeout(60.0, read=None)
    gateway = psutil.Process(gateway_pid)
    commands = command_client(settings)
    bus = EventBus(commands)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, limits=limits) as client:
        total = args.idle + args.active
        sem = asyncio.Semaphore(50)

        async def create() -> str:
            async with sem:
                return await create_conversation(client)

        conversations = await asyncio.gather(*(create() for _ in range(total)))
        rss_before = gateway.memory_info().rss / 2**20
        ours: list[float] = []
        bare: list[float] = []
        opened: list[int] = []
        started = time.perf_counter()
        # Clients arrive in waves, as after a deploy, not all in the same instant.
        connecting = asyncio.Semaphore(args.connecting)
        streams = [
            asyncio.create_task(_open(client, c, ours if i >= args.idle else None, opened, connecting))
            for i, c in enumerate(conversations)
        ]
        while len(opened) < total:
            failed = [t for t in streams if t.done() and t.exception() is not None]
            if failed:
                for task in streams:
                    task.cancel()
                await asyncio.gather(*streams, return_exceptions=True)
                raise SystemExit(f"{len(failed)} streams failed after {len(opened)} opened: {failed[0].exception()}")
            await asyncio.sleep(0.1)
        print(f"  {total} streams open after {time.perf_counter() - started:.1f} s")
        await asyncio.sleep(2)
        rss_idle = gateway.memory_info().rss / 2**20
        reader = blocking_client(settings)
        stop = asyncio.Event()
        active = conversations[args.idle :]
        readers = [asyncio.create_task(_bare_reader(reader, stream_key(tenant, c), bare, stop)) for c in active]
        await asyncio.sleep(1.5)
        ends = time.monotonic() + args.seconds
        sent = 0
        while time.monotonic() < ends:
            tick = time.monotonic()
            for conversation in active:
                await bus.publish(tenant, conversation, EventType.TOKEN, {"sent": time.time(), "delta": "x"})
                sent += 1
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
        await asyncio.sleep(2)
        stop.set()
        rss_loaded = gateway.memory_info().rss / 2**20
        clients = len(await commands.client_list())
        print(f"  events published: {sent} to {len(active)} conversations over {args.seconds:.0f} s")
        print(f"  baseline  (bare XREAD BLOCK per conversation)  {_percentiles(bare)}")
        print(f"  gateway   (SSE, {args.idle} idle + {args.active} active)     {_percentiles(ours)}")
        print(f"  delivered {len(ours)}/{sent} through the gateway, {len(bare)}/{sent} bare")
        print(
            f"  gateway RSS: {rss_before:.0f} MiB before, {rss_idle:.0f} MiB with the streams open, "
            f"{rss_loaded:.0f} MiB loaded"
        )
        print(f"  Redis clients connected (all processes): {clients}")
        for task in [*streams, *readers]:
            task.cancel()
        await asyncio.gather(*streams, *readers, return_exceptions=True)
        await reader.aclose()
    await commands.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--active", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between events of a busy conversation")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connecting", type=int, default=100, help="streams being opened at any one time")
    args = parser.parse_args(argv)
    with throwaway_stack("aiaas-bench-sse-", task_queue=f"bench-{uuid.uuid4().hex[:6]}") as settings:
        print(f"sse: {args.idle} idle + {args.active} active streams on one gateway process")
        with running_platform(settings, 0, 1) as platform:
            asyncio.run(_measure(settings, platform, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
