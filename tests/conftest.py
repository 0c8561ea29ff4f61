"""Suite-wide fixtures: one real stack (Temporal, Postgres + pgvector, Redis) for the whole session.

The stack comes from the same launcher as `aiaas up`, on free ports in a temporary data dir, so the suite
exercises the quickstart path. With `TEMPORAL_ADDRESS`, `DATABASE_URL` and `REDIS_URL` all set (CI with
service containers, say) it connects to those instead. The fixtures are sync on purpose: pytest-asyncio runs
one event loop per test, and a session-scoped async fixture would outlive them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from core.stack import Stack, StackEndpoints, free_port

ENDPOINT_VARIABLES = ("TEMPORAL_ADDRESS", "DATABASE_URL", "REDIS_URL")


def uses_external_stack() -> bool:
    return all(os.environ.get(name) for name in ENDPOINT_VARIABLES)


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


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def stack(stack_dir: Path) -> Iterator[StackEndpoints]:
    if uses_external_stack():
        launcher_settings = Settings().model_copy(update={"env": "test", "data_dir": stack_dir})
    else:
        launcher_settings = embedded_settings(stack_dir)
    with Stack(launcher_settings) as running:
        assert running.endpoints is not None
        yield running.endpoints


@pytest.fixture(scope="session")
def settings(stack: StackEndpoints, stack_dir: Path) -> Settings:
    return Settings().model_copy(
        update={
            "env": "test",
            "data_dir": stack_dir,
            "temporal_address": stack.temporal_address,
            "temporal_ui_url": stack.temporal_ui_url,
            "database_url": stack.database_url,
            "redis_url": stack.redis_url,
            "gateway_port": free_port(),
        }
    )
