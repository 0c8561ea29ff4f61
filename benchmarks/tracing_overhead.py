"""Turn latency with tracing off against tracing on with sampling, same stack, same run, alternating.

Each variant is its own platform (one worker and one gateway process, their own task queue and tenant) on one
throwaway stack:

- `off`: `OTEL_SDK_DISABLED=true`: no tracer provider, no request instrumentation, no Temporal tracing
  interceptor (`core.telemetry.tracing_enabled`);
- `rate R`: tracing as deployed, sampling new traces at R (`AIAAS_TRACE_SAMPLE_RATE`), exporting sampled spans
  by OTLP/HTTP to a loopback receiver that counts what it is sent.

Turns are measured as `python -m benchmarks turns` measures them (POST a message, wait for its
`message.completed` on the conversation's event stream, `scripted/echo` so the model costs nothing), one
conversation per variant at a time, in rounds whose order alternates, so a busy machine's slow minute falls
on every variant alike. Printed: p50, mean and p95 per variant, the ratio of each against `off`, and the
median of the per-round p50 ratios. Goal: tracing at the deployed rate costs < 5 % of turn latency.

    python -m benchmarks tracing [--rates 0.01,1 --rounds 20 --turns-per-round 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.platform_processes import Platform, running_platform
from benchmarks.turn_latency import _platform_turns
from core.stack.stack import throwaway_stack

GOAL = 1.05


class _Sink(BaseHTTPRequestHandler):
    requests = 0
    bytes = 0

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        type(self).requests += 1
        type(self).bytes += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return


@contextmanager
def otlp_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


async def _turns(platform: Platform, n: int) -> list[float]:
    run = await _platform_turns(platform.base_url, platform.api_key, n, 1)
    latencies = run["latencies"]
    assert isinstance(latencies, list)
    return [float(x) for x in latencies]


async def _measure(platforms: dict[str, Platform], args: argparse.Namespace) -> dict[str, list[list[float]]]:
    names = list(platforms)
    for name in names:
        await _turns(platforms[name], args.warmup)
    rounds: dict[str, list[list[float]]] = {name: [] for name in names}
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        batch: dict[str, list[float]] = {}
        try:
            for name in order:
                batch[name] = await _turns(platforms[name], args.turns_per_round)
        except RuntimeError as exc:
            # An overloaded machine sheds turns (503); the round is dropped for every variant, keeping pairs.
            print(f"  round {r} dropped: {exc}")
            continue
        for name in names:
            rounds[name].append(batch[name])
    if not rounds[names[0]]:
        raise SystemExit("every round was shed: the machine is too busy to measure")
    return rounds


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered) * 1000,
        "mean": statistics.fmean(ordered) * 1000,
        "p95": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
    }


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=_rates, default=[0.01, 1.0], help="sampling rates to compare with off")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--turns-per-round", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5, help="turns per variant before measuring")
    args = parser.parse_args(argv)

    with throwaway_stack("aiaas-bench-trace-") as settings, otlp_receiver() as endpoint, ExitStack() as stack:
        # Latency, not admission, is measured: a slow start on a busy machine must not shed the turns.
        never_shed = {"AIAAS_SHED_BACKLOG_COUNTS": "[1000000,2000000,3000000]"}
        never_shed["AIAAS_SHED_BACKLOG_AGE_SECONDS"] = "[100000,200000,300000]"
        variants: dict[str, dict[str, str]] = {"off": {"OTEL_SDK_DISABLED": "true"}}
        for rate in args.rates:
            variants[f"rate {rate:g}"] = {"AIAAS_TRACE_SAMPLE_RATE": str(rate), "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        platforms = {}
        for i, (name, env) in enumerate(variants.items()):
            # A data directory each: process names (and their pid files) repeat from one platform to the next.
            # One key-encryption key file for all of them: they share the database and its wrapped data keys.
            kms = settings.kms_keys_file or settings.data_dir / "kms" / "keys.json"
            own = settings.model_copy(update={"data_dir": settings.data_dir / f"variant-{i}", "kms_keys_file": kms})
            own.data_dir.mkdir(parents=True, exist_ok=True)
            queue = f"bench-trace-{uuid.uuid4().hex[:6]}"
            platforms[name] = stack.enter_context(
                running_platform(own, 1, 1, AIAAS_TASK_QUEUE=queue, **never_shed, **env)
            )
        rounds = asyncio.run(_measure(platforms, args))
    off = _summary([x for batch in rounds["off"] for x in batch])
    kept = len(rounds["off"])
    print(
        f"tracing: {kept * args.turns_per_round} turns per variant in {kept} alternating rounds,"
        " 1 worker + 1 gateway each"
    )
    for name, batches in rounds.items():
        s = _summary([x for batch in batches for x in batch])
        line = f"  {name:<10} p50 {s['p50']:7.1f} ms  mean {s['mean']:7.1f} ms  p95 {s['p95']:7.1f} ms"
        if name != "off":
            paired = statistics.median(
                statistics.median(b) / statistics.median(o) for b, o in zip(batches, rounds["off"], strict=True)
            )
            line += (
                f"  ratio p50 {s['p50'] / off['p50']:.3f}x, mean {s['mean'] / off['mean']:.3f}x,"
                f" per-round p50 {paired:.3f}x (goal < {GOAL}x)"
            )
        print(line)
    print(f"  OTLP receiver: {_Sink.requests} export requests, {_Sink.bytes} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
