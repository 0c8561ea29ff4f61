"""The worker and gateway processes `aiaas up` runs: how many, what each is called, where it is reached.

Worker processes poll the same task queue, each of role `all`, or, split, some of role `workflows` and the
others of role `activities` (`aiaas worker --role`); each serves its own metrics endpoint (the first on
`AIAAS_WORKER_METRICS_PORT` when set), which is also how `up` knows it is ready. Gateway processes share
the gateway port through SO_REUSEPORT (`aiaas gateway --reuse-port`) and their metrics through a
multiprocess Prometheus directory, so a scrape of `/metrics` counts all of them whichever one answers.
A gateway is ready once its own socket listens (uvicorn listens after the app's startup) and the port answers.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psutil  # a dependency of pgserver, so always present with the stack's wheels

from core.stack.ports import free_port


def default_count() -> int:
    """One process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def process_names(kind: str, count: int) -> list[str]:
    """`worker` alone, or `worker-1` ... `worker-N`: the name of each process's log and pid files."""
    return [kind] if count == 1 else [f"{kind}-{i}" for i in range(1, count + 1)]


WorkerRoles = Literal["all", "split"]


@dataclass(frozen=True)
class AppProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    # Worker: its metrics URL; gateway: the shared port's health URL.
    ready_url: str
    # Worker: what it runs (`aiaas worker --role`); gateway: empty.
    role: str = ""


def worker_layout(roles: WorkerRoles, count: int, activity_count: int) -> list[tuple[str, str]]:
    """Each worker process's name and role: `count` of role all, or, split, `count` of role workflows (they
    hold the open conversations) and `activity_count` of role activities (model and tool calls)."""
    if roles == "all":
        return [(name, "all") for name in process_names("worker", count)]
    return [(name, "workflows") for name in process_names("worker-workflows", count)] + [
        (name, "activities") for name in process_names("worker-activities", activity_count)
    ]


def worker_processes(
    count: int,
    host: str,
    first_metrics_port: int,
    env: dict[str, str],
    *,
    roles: WorkerRoles = "all",
    activity_count: int = 0,
) -> list[AppProcess]:
    layout = worker_layout(roles, count, activity_count)
    ports = [first_metrics_port] + [free_port(host) for _ in range(len(layout) - 1)]
    base = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    # The role is on the command line, so that `ps` shows it and an AIAAS_WORKER_ROLE left in the
    # environment cannot turn every worker into one half of the platform.
    return [
        AppProcess(
            name,
            [sys.executable, "-m", "app.cli", "worker", "--role", role],
            {**base, "AIAAS_WORKER_METRICS_PORT": str(port)},
            f"http://{host}:{port}/metrics",
            role,
        )
        for (name, role), port in zip(layout, ports, strict=True)
    ]


def gateway_processes(count: int, host: str, port: int, env: dict[str, str], data_dir: Path) -> list[AppProcess]:
    argv = [sys.executable, "-m", "app.cli", "gateway", "--host", host, "--port", str(port)]
    gateway_env = dict(env)
    if count > 1:
        argv.append("--reuse-port")
        gateway_env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(data_dir))
    else:
        gateway_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return [
        AppProcess(name, argv, gateway_env, f"http://{host}:{port}/healthz") for name in process_names("gateway", count)
    ]


def fresh_metrics_dir(data_dir: Path) -> Path:
    """The gateways' shared metrics files, emptied: counts of an earlier run must not add to this one's."""
    path = data_dir / "run" / "gateway-metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def listens_on(pid: int | None, port: int) -> bool:
    """Whether process `pid` has a socket listening on `port`."""
    if pid is None:
        return False
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections)
