"""Suite-wide fixtures: one real stack (Temporal, Postgres + pgvector, Redis) for the whole session.

The stack comes from the same launcher as `aiaas up`, on free ports in a temporary data dir, so the suite
exercises the quickstart path. With `TEMPORAL_ADDRESS`, `DATABASE_URL` and `REDIS_URL` all set (CI with
service containers, say) it connects to those instead. The fixtures are sync on purpose: pytest-asyncio runs
one event loop per test, and a session-scoped async fixture would outlive them.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.crypto import fields
from core.settings import Settings
from core.stack import Stack, StackEndpoints, free_port
from db.database import Database
from tests.e2e.fixtures import api, api_b, platform, tenant_a, tenant_b  # noqa: F401

# Test modules that import litellm before `activities` does must not make it fetch its price table online.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ENDPOINT_VARIABLES = ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL")
PORT_CLASH = re.compile(r"is taken|address already in use", re.IGNORECASE)


def uses_external_stack() -> bool:
    return all(os.environ.get(name) for name in ENDPOINT_VARIABLES)


# Worker processes for `-n auto` (pyproject's addopts): each starts a whole stack (Temporal, Postgres, Redis)
# and the heavier tests start gateways, workers and a browser of their own, so more than a few stop paying.
MAX_WORKERS = 4


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """One worker per core up to MAX_WORKERS; `PYTEST_XDIST_AUTO_NUM_WORKERS` overrides. Against an external
    stack the suite runs in one process: every worker would share its database and task queues."""
    if uses_external_stack():
        return 0
    requested = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    if requested.isdigit():
        return int(requested)
    return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))


def embedded_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a stack of our own on free ports, whatever endpoints the environment names."""
    host = "127.0.0.1"
    update: dict[str, object] = {
        "env": "test",
        "data_dir": data_dir,
        "host": host,
        "temporal_address": None,
        "database_url": None,
        "redis_url": None,
        "temporal_ui_url": None,
        "temporal_port": free_port(host),
        "temporal_ui_port": free_port(host),
        "postgres_port": free_port(host),
        "redis_port": free_port(host),
        "gateway_port": free_port(host),
    }
    update.update(overrides)
    return Settings().model_copy(update=update)


def start_on_free_ports(data_dir: Path, attempts: int = 3) -> Stack:
    """Start an embedded stack, picking new ports when one was taken between choosing and binding it.

    Free ports are only free when asked; with other suites starting servers on this machine at the same
    time, one may be gone a moment later.
    """
    for attempt in range(1, attempts + 1):
        stack = Stack(embedded_settings(data_dir))
        try:
            stack.start()
        except RuntimeError as exc:
            if attempt == attempts or not PORT_CLASH.search(str(exc)):
                raise
            continue
        return stack
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack(stack_dir: Path) -> Iterator[StackEndpoints]:
    if uses_external_stack():
        running = Stack(Settings().model_copy(update={"env": "test", "data_dir": stack_dir}))
        running.start()
    else:
        running = start_on_free_ports(stack_dir)
    try:
        assert running.endpoints is not None
        yield running.endpoints
    finally:
        running.stop()


@pytest.fixture(scope="session")
def settings(stack: StackEndpoints, stack_dir: Path) -> Settings:
    configured = Settings().model_copy(
        update={
            "env": "test",
            "data_dir": stack_dir,
            "temporal_address": stack.temporal_address,
            "temporal_ui_url": stack.temporal_ui_url,
            "database_url": stack.database_url,
            "redis_url": stack.redis_url,
            "gateway_port": free_port(),
            # One key-encryption key file for every process on this database, whatever its data dir.
            "kms_keys_file": stack_dir / "kms" / "keys.json",
        }
    )
    fields.configure(configured)  # transcripts written by tests themselves are sealed with the same KMS
    return configured


@pytest.fixture(scope="session")
def migrated(settings: Settings) -> Settings:
    """The session's settings once the schema is at head (idempotent: every folder may ask)."""
    from tests.e2e.platform import apply_migrations

    apply_migrations(settings)
    return settings


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """A pool on the app role (row-level security applies), closed after the test."""
    database = Database(migrated.resolved_app_database_url(), pool_size=4)
    yield database
    await database.close()
