"""The platform under test: the session stack plus a worker and a gateway run as real processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from core.settings import Settings
from core.stack.ports import free_port
from core.stack.process import ManagedProcess

# Agents pinned to scripted models that exercise the slow, flaky and failing paths. The shipped agents run on
# the tool-calling script, which follows a `PLAN:` in the message and otherwise answers exactly like
# `scripted/echo`.
AGENT_MODELS = {
    "slowpoke": "scripted/slow-echo",
    "flaky": "scripted/flaky-echo",
    "broken": "scripted/error-400",
    "support": "scripted/agent",
    "orders": "scripted/agent",
    "leads": "scripted/agent",
}


@dataclass
class Platform:
    settings: Settings
    data_dir: Path
    env: dict[str, str]
    gateway_port: int
    worker: ManagedProcess = field(init=False)
    gateway: ManagedProcess = field(init=False)
    worker_metrics_port: int = field(init=False)

    def __post_init__(self) -> None:
        python = sys.executable
        self.worker_metrics_port = free_port()
        self.worker = ManagedProcess(
            "test-worker",
            [python, "-m", "app.cli", "worker"],
            data_dir=self.data_dir,
            env={**self.env, "AIAAS_WORKER_METRICS_PORT": str(self.worker_metrics_port)},
        )
        self.gateway = ManagedProcess(
            "test-gateway",
            [python, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(self.gateway_port)],
            data_dir=self.data_dir,
            env=self.env,
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def start_worker(self) -> None:
        self.worker.start()
        # A worker is ready once it polls; two seconds alive means imports and connect succeeded.
        self.worker.wait_ready(lambda: self.worker.started_at is not None and _alive_for(self.worker, 2.0), timeout=60)

    def kill_worker(self) -> None:
        """SIGKILL, no graceful shutdown: the crash a durable conversation must survive."""
        import signal

        assert self.worker.pid is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.stop()

    def start(self) -> None:
        self.start_worker()
        self.gateway.start()
        # Generous: on a busy 2-core machine importing the gateway alone can take over a minute.
        self.gateway.wait_ready(self._gateway_healthy, timeout=180)

    def stop(self) -> None:
        self.gateway.stop()
        self.worker.stop()

    def _gateway_healthy(self) -> bool:
        return httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200


def _alive_for(process: ManagedProcess, seconds: float) -> bool:
    import time

    return process.alive and process.started_at is not None and time.monotonic() - process.started_at >= seconds


def platform_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIAAS_")}
    env.update(
        {
            "TEMPORAL_ADDRESS": settings.temporal_address or "",
            "DATABASE_URL": settings.database_url or "",
            "REDIS_URL": settings.redis_url or "",
            "AIAAS_DATA_DIR": str(data_dir),
            "AIAAS_TASK_QUEUE": settings.task_queue,
            "AIAAS_MODEL_SMALL": "scripted/echo",
            "AIAAS_AGENT_MODELS": json.dumps(AGENT_MODELS),
            "AIAAS_AUTH_CACHE_SECONDS": "0",
            "AIAAS_LOG_LEVEL": "WARNING",
            # Every test tenant gets series of its own, whatever order the tests run in.
            "AIAAS_METRICS_TENANT_LABELS": "10000",
            # Channel tests reply to a provider simulator on loopback.
            "AIAAS_CHANNEL_ALLOW_PRIVATE_TARGETS": "1",
            # Every test signs up from loopback: the per-address signup limit is not what they test.
            "AIAAS_SIGNUP_PER_IP_PER_HOUR": "1000",
            # Likewise the edge limits per address (tests/console/test_edge_limits.py fills a bucket instead).
            "AIAAS_CONSOLE_PER_MINUTE_PER_ADDRESS": "100000",
            "AIAAS_HOOKS_PER_MINUTE_PER_ADDRESS": "100000",
            "AIAAS_WIDGET_PER_MINUTE_PER_ADDRESS": "100000",
        }
    )
    if settings.kms_keys_file is not None:
        env["AIAAS_KMS_KEYS_FILE"] = str(settings.kms_keys_file)
    return env


def apply_migrations(settings: Settings) -> None:
    from db.migrate import migrate

    asyncio.run(migrate(settings.database_url or "", settings.app_db_password.get_secret_value()))


def pick_port() -> int:
    return free_port()


@contextmanager
def extra_gateway(platform: Platform, data_dir: Path, name: str, **env: str) -> Iterator[str]:
    """Another gateway on the platform's stack, with `env` on top of its environment; yields its URL.

    For tests about a setting itself (a ticket's lifetime, say), which the shared gateway keeps at its default.
    """
    port = pick_port()
    process = ManagedProcess(
        name,
        [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)],
        data_dir=data_dir,
        env={**platform_env(platform.settings, data_dir), **env},
    )
    url = f"http://127.0.0.1:{port}"
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200, timeout=60)
        yield url
    finally:
        process.stop()
