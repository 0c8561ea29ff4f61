"""Helpers of the embedded stack's tests: the processes a stack started and whether they are gone, SQL on
one of its databases, a launcher's environment. Imported by `tests/core/test_stack*.py` and `tests/app/test_up*.py`.
"""

from __future__ import annotations

import asyncio
import os
import re
import time

import asyncpg
import psutil
import pytest

from core.settings import Settings
from core.stack import Stack
from tests.conftest import ENDPOINT_VARIABLES, uses_external_stack

embedded_only = pytest.mark.skipif(uses_external_stack(), reason="the stack under test is external")
READY_LINE = re.compile(r"^  (temporal|postgres|redis) +ready in \d+\.\d s$")
# A child's graceful shutdown once its launcher is gone: Postgres' fast shutdown, Temporal's and Redis' own.
GONE_WITHIN = 30.0


def sql(url: str, statement: str) -> object:
    # These tests are sync, so there is no running loop to share.
    async def run() -> object:
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval(statement) if statement.startswith("SELECT") else await conn.execute(statement)
        finally:
            await conn.close()

    return asyncio.run(run())


def launcher_env(settings: Settings) -> dict[str, str]:
    """The environment for a launcher in another process to start an embedded stack like `settings`'s."""
    env = {name: value for name, value in os.environ.items() if name not in ENDPOINT_VARIABLES}
    env.update(
        AIAAS_DATA_DIR=str(settings.data_dir),
        AIAAS_TEMPORAL_PORT=str(settings.temporal_port),
        AIAAS_TEMPORAL_UI_PORT=str(settings.temporal_ui_port),
        AIAAS_POSTGRES_PORT=str(settings.postgres_port),
        AIAAS_REDIS_PORT=str(settings.redis_port),
    )
    return env


def descendants(stack: Stack) -> list[psutil.Process]:
    """Every process the stack started, and everything those started."""
    return with_descendants([process.pid for process in stack.processes if process.pid is not None])


def running(process: psutil.Process) -> bool:
    # Orphans are reaped by whoever adopts them, which may take its time; a zombie holds nothing.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_all_gone(processes: list[psutil.Process], within: float = 0.0) -> None:
    deadline = time.monotonic() + within
    while any(running(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [p for p in processes if running(p)] == []


def with_descendants(pids: list[int]) -> list[psutil.Process]:
    """The processes, and everything they started (Postgres backends, for one)."""
    found: list[psutil.Process] = []
    for pid in pids:
        parent = psutil.Process(pid)
        found += [parent, *parent.children(recursive=True)]
    return found
