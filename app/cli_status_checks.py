"""One probe per part for `aiaas status`, each the smallest request that proves the part serves its clients.

Loaded only by the command, so the clients are imported here, before any probe is timed.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import httpx
from redis.asyncio import Redis
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from app.cli_context import first_line
from core.settings import Settings
from core.stack.postgres import asyncpg_dsn, mask_password
from core.stack.running import RunningApps

Probe = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class Check:
    part: str
    # "up", "down", or "skipped" for a part this `up` was told not to start.
    state: str
    where: str | None
    detail: str = ""
    millis: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def _timed(part: str, where: str, probe: Probe, limit: float) -> Check:
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(probe(), limit)
    except TimeoutError:
        return Check(part, "down", where, f"no answer within {limit:g} s")
    except Exception as exc:
        return Check(part, "down", where, first_line(exc))
    return Check(part, "up", where, detail, max(1, round((time.monotonic() - started) * 1000)))


def _temporal(address: str, namespace: str) -> Probe:
    async def probe() -> str:
        client = await Client.connect(address, namespace=namespace)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
        return f"namespace {namespace}"

    return probe


def _postgres(url: str) -> Probe:
    async def probe() -> str:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        return f"PostgreSQL {version}"

    return probe


def _redis(url: str) -> Probe:
    async def probe() -> str:
        client = Redis.from_url(url)
        try:
            info = await client.info("server")
        finally:
            await client.aclose()
        return f"Redis {info.get('redis_version', '?')}"

    return probe


def _http(url: str, what: str) -> Probe:
    async def probe() -> str:
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered HTTP {response.status_code}")
        return what

    return probe


def _http_all(urls: list[str], what: str) -> Probe:
    """Every worker process must answer: one that is down is a worker that takes no tasks."""
    probes = [_http(url, what) for url in urls]

    async def probe() -> str:
        await asyncio.gather(*(each() for each in probes))
        return what if len(urls) == 1 else f"{what} ({len(urls)} processes)"

    return probe


def _missing(part: str, variable: str, settings: Settings) -> Check:
    return Check(part, "down", None, f"{variable} not set and no `aiaas up` running under {settings.data_dir}")


def run_checks(settings: Settings, apps: RunningApps | None, limit: float) -> list[Check]:
    """Every part's check, in order. Each runs on a thread and event loop of its own, so that one client
    blocking while it sets up (Temporal's loads its runtime) neither delays nor inflates the others' times."""
    checks: list[Callable[[], Check]] = []

    def add(check: Coroutine[Any, Any, Check] | Check) -> None:
        checks.append((lambda: check) if isinstance(check, Check) else functools.partial(asyncio.run, check))

    s = settings
    if s.temporal_address:
        add(_timed("temporal", s.temporal_address, _temporal(s.temporal_address, s.temporal_namespace), limit))
    else:
        add(_missing("temporal", "TEMPORAL_ADDRESS", s))
    if s.database_url:
        add(_timed("postgres", mask_password(s.database_url), _postgres(s.database_url), limit))
    else:
        add(_missing("postgres", "DATABASE_URL", s))
    if s.redis_url:
        add(_timed("redis", s.redis_url, _redis(s.redis_url), limit))
    else:
        add(_missing("redis", "REDIS_URL", s))

    # Without an `up` here, the gateway and worker may still run by hand, where the settings put them.
    gateway = apps.gateway_url if apps is not None else f"http://{s.host}:{s.gateway_port}"
    if gateway is None:
        add(Check("gateway", "skipped", None, "not started (aiaas up --no-gateway)"))
    else:
        add(_timed("gateway", gateway, _http(f"{gateway}/healthz", "healthz ok"), limit))
    if apps is not None:
        metrics = apps.worker_metrics_url
    elif s.worker_metrics_port is not None:
        metrics = f"http://{s.host}:{s.worker_metrics_port}/metrics"
    else:
        metrics = None
    if metrics is None:
        reason = "not started (aiaas up --no-worker)" if apps is not None else "set AIAAS_WORKER_METRICS_PORT"
        add(Check("worker", "skipped", None, f"no metrics endpoint known: {reason}"))
    elif apps is None:
        add(_timed("worker", metrics, _http_all([metrics], "metrics ok"), limit))
    else:
        # Split roles are a part each: the platform needs both, and the line says which side is down.
        for role, urls in apps.workers_by_role().items():
            part = "worker" if role == "all" else f"worker-{role}"
            add(_timed(part, urls[0], _http_all(urls, "metrics ok"), limit))

    with ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="status") as pool:
        return list(pool.map(lambda check: check(), checks))
