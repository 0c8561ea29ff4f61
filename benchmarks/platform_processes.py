"""The platform's own processes for a benchmark: N workers and N gateways on a throwaway stack.

Gateways share one port with `--reuse-port` when there are several, as under `aiaas up`. The argv is built
here rather than taken from `app.up_apps`, so that the same script can measure an older checkout.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import httpx
import psutil

from core.settings import Settings
from core.stack.ports import free_port
from core.stack.process import ManagedProcess


@dataclass
class Platform:
    base_url: str
    api_key: str
    tenant_id: str
    workers: list[ManagedProcess]
    gateways: list[ManagedProcess]
    # What the platform's processes were started with, for a benchmark that starts one of its own.
    env: dict[str, str]

    def rss_mib(self, processes: list[ManagedProcess]) -> list[float]:
        sizes = []
        for process in processes:
            with suppress(psutil.NoSuchProcess):
                sizes.append(psutil.Process(process.pid).memory_info().rss / 2**20)
        return sizes


async def create_tenant(settings: Settings, plan: str = "enterprise") -> tuple[str, str]:
    """A tenant on the largest plan (benchmarks measure turns, not a small plan's limits): its id and key."""
    from db.migrate import migrate
    from tenancy.tenants import create_tenant as create

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    created = await create(
        settings.database_url or "",
        name=f"bench {uuid.uuid4().hex[:6]}",
        plan=plan,
        pepper=settings.api_key_pepper.get_secret_value(),
    )
    return created.tenant_id, created.api_key


def platform_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TEMPORAL_ADDRESS": settings.temporal_address or "",
        "DATABASE_URL": settings.database_url or "",
        "REDIS_URL": settings.redis_url or "",
        "AIAAS_TASK_QUEUE": settings.task_queue,
        "AIAAS_MODEL_SMALL": "scripted/echo",
        "AIAAS_LOG_LEVEL": "WARNING",
        "AIAAS_DATA_DIR": str(settings.data_dir),
        # Processes of one database share its key-encryption keys, whatever their data directories.
        **({"AIAAS_KMS_KEYS_FILE": str(settings.kms_keys_file)} if settings.kms_keys_file else {}),
        **extra,
    }


def _serves(process: ManagedProcess, port: int) -> bool:
    """This gateway listens itself (the shared port may answer from another) and the port answers."""
    try:
        connections = psutil.Process(process.pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return False
    listening = any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)
    return listening and httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200


def _worker_argvs(workers: int, activity_workers: int) -> list[tuple[str, list[str]]]:
    """`workers` of the default role, or, with activity workers, `workers` of role workflows and those of role
    activities, as `aiaas up --worker-roles split` runs them (`--role` only then: older checkouts lack it)."""
    argv = [sys.executable, "-m", "app.cli", "worker"]
    if not activity_workers:
        return [(f"bench-worker-{i}", argv) for i in range(workers)]
    return [(f"bench-worker-workflows-{i}", [*argv, "--role", "workflows"]) for i in range(workers)] + [
        (f"bench-worker-activities-{i}", [*argv, "--role", "activities"]) for i in range(activity_workers)
    ]


@contextmanager
def running_platform(
    settings: Settings, workers: int, gateways: int, activity_workers: int = 0, **extra: str
) -> Iterator[Platform]:
    tenant_id, api_key = asyncio.run(create_tenant(settings))
    env = platform_env(settings, **extra)
    port = free_port()
    worker_procs = [
        ManagedProcess(name, argv, data_dir=settings.data_dir, env=env)
        for name, argv in _worker_argvs(workers, activity_workers)
    ]
    argv = [sys.executable, "-m", "app.cli", "gateway", "--host", "127.0.0.1", "--port", str(port)]
    if gateways > 1:
        argv.append("--reuse-port")
    gateway_procs = [
        ManagedProcess(f"bench-gateway-{i}", argv, data_dir=settings.data_dir, env=env) for i in range(gateways)
    ]
    started = [*worker_procs, *gateway_procs]
    try:
        for process in started:
            process.start()
        for process in gateway_procs:
            process.wait_ready(functools.partial(_serves, process, port), timeout=120)
        yield Platform(f"http://127.0.0.1:{port}", api_key, tenant_id, worker_procs, gateway_procs, env)
    finally:
        for process in reversed(started):
            process.stop()
