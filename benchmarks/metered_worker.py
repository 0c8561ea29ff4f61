"""`aiaas worker` with the Temporal SDK's own metrics (sticky cache hits and misses, cache size) on a port.

`python -m benchmarks.metered_worker PORT`: the platform's worker as `aiaas worker` runs it, in a runtime
whose Prometheus endpoint is at http://127.0.0.1:PORT/metrics, for benchmarks that read the SDK's counters.
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from app.worker import run_worker
from core.logging import configure_logging
from core.settings import get_settings
from core.telemetry import configure_tracing


def main() -> int:
    port = int(sys.argv[1])
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))))
    settings = get_settings().require()
    configure_logging(settings.log_level, json_output=settings.log_json)
    configure_tracing("aiaas-worker")
    asyncio.run(run_worker(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
