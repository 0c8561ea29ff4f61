"""The worker and gateway processes `aiaas up` runs: how many, what each is called, where it is reached.

Worker processes poll the same task queue; each serves its own metrics endpoint (the first on
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


@dataclass(frozen=True)
class AppProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    # Worker: its metrics URL; gateway: the shared port's health URL.
    ready_url: str


def worker_processes(count: int, host: str, first_metrics_port: int, env: dict[str, str]) -> list[AppProcess]:
    ports = [first_metrics_port] + [free_port(host) for _ in range(count - 1)]
    base = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return [
        AppProcess(
            name,
            [sys.executable, "-m", "app.cli", "worker"],
            {**base, "AIAAS_WORKER_METRICS_PORT": str(port)},
            f"http://{host}:{port}/metrics",
        )
        for name, port in zip(process_names("worker", count), ports, strict=True)
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
