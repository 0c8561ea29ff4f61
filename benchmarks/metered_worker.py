"""`aiaas worker` with the Temporal SDK's own metrics (sticky cache hits and misses, cache size) on a port.

`python -m benchmarks.metered_worker PORT`: the platform's worker as `aiaas worker` runs it, in a runtime
whose Prometheus endpoint is at http://127.0.0.1:PORT/metrics, for benchmarks that read the SDK's counters.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from app.worker import run_worker
from core.logging import configure_logging
from core.settings import Settings, get_settings
from core.telemetry import configure_tracing

# With `AIAAS_BENCH_HEAP_DIR` set, the worker traces its allocations and writes a snapshot (tracemalloc) and
# the live objects' type counts into that directory on every SIGUSR1, numbered from 1.
HEAP_DIR = "AIAAS_BENCH_HEAP_DIR"


def _dump_heap(directory: Path, counter: list[int]) -> None:
    counter[0] += 1
    gc.collect()
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    tracemalloc.take_snapshot().dump(str(directory / f"heap-{counter[0]}.snapshot"))
    (directory / f"types-{counter[0]}.json").write_text(json.dumps(dict(types.most_common(400))))
    (directory / f"done-{counter[0]}").touch()


async def _serve(settings: Settings) -> None:
    directory = os.environ.get(HEAP_DIR)
    if directory:
        counter = [0]
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, _dump_heap, Path(directory), counter)
    await run_worker(settings)


def main() -> int:
    port = int(sys.argv[1])
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))))
    settings = get_settings().require()
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing("aiaas-worker")
    if os.environ.get(HEAP_DIR):
        tracemalloc.start()
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
