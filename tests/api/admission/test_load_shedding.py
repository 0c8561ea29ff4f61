"""Load shedding on a gateway of its own with low thresholds, over a task queue without a worker: a backlog
sheds free tenants' new turns while enterprise and pro go on, reads are never shed, and admission comes
back by itself once a worker drains the backlog."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.e2e.platform import Platform

from .backlog_workflows import BacklogFiller
from .conftest import MakeTenant, Tenant, gateway_process

BACKLOG = 6


def _create(url: str, tenant: Tenant) -> httpx.Response:
    return httpx.post(f"{url}/v1/conversations", json={}, headers=tenant.headers, timeout=30)


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.25)


async def _fill(address: str, queue: str) -> None:
    client = await Client.connect(address)
    for _ in range(BACKLOG):
        await client.start_workflow(BacklogFiller.run, id=f"backlog-{uuid.uuid4()}", task_queue=queue)


async def _drain_until(address: str, queue: str, drained: Callable[[], bool]) -> None:
    client = await Client.connect(address)
    async with Worker(client, task_queue=queue, workflows=[BacklogFiller]):
        deadline = time.monotonic() + 90
        while not await asyncio.to_thread(drained):
            assert time.monotonic() < deadline, "admission did not come back after the backlog drained"
            await asyncio.sleep(0.5)


def test_a_backlog_sheds_free_turns_first_and_admission_recovers(
    platform: Platform, tmp_path_factory: pytest.TempPathFactory, make_tenant: MakeTenant
) -> None:
    queue = f"shedding-{uuid.uuid4().hex[:8]}"
    free, pro, enterprise = make_tenant("free"), make_tenant("pro"), make_tenant("enterprise")
    address = platform.settings.temporal_address or ""
    env = {
        "AIAAS_TASK_QUEUE": queue,
        "AIAAS_SHED_BACKLOG_COUNTS": json.dumps([3, 100_000, 200_000]),
        "AIAAS_SHED_BACKLOG_AGE_SECONDS": json.dumps([3600, 7200, 10800]),
        "AIAAS_SHED_SAMPLE_SECONDS": "0.5",
        "AIAAS_SHED_RECOVER_SAMPLES": "2",
    }
    with gateway_process(platform, tmp_path_factory, "shedding-gateway", **env) as url:
        conversation = _create(url, free).json()["id"]
        asyncio.run(_fill(address, queue))
        _until(lambda: _create(url, free).status_code == 503, 30, "shedding free tenants")

        shed = _create(url, free)
        assert shed.status_code == 503
        error = shed.json()["error"]
        assert (error["code"], error["details"]["shedding_level"]) == ("overloaded", 1)
        assert int(shed.headers["Retry-After"]) >= 1
        message = httpx.post(
            f"{url}/v1/conversations/{conversation}/messages",
            json={"content": "hello"},
            headers=free.headers,
            timeout=30,
        )
        assert message.status_code == 503
        assert _create(url, enterprise).status_code == 201
        assert _create(url, pro).status_code == 201
        # Reads are never shed, and say what is going on.
        limits = httpx.get(f"{url}/v1/limits", headers=free.headers, timeout=30)
        assert limits.status_code == 200
        assert limits.json()["shedding"] == {"level": 1, "new_turns_admitted": False}
        assert httpx.get(f"{url}/v1/conversations/{conversation}", headers=free.headers, timeout=30).status_code == 200
        assert "admission_shedding_level 1.0" in httpx.get(f"{url}/metrics", timeout=30).text

        asyncio.run(_drain_until(address, queue, lambda: _create(url, free).status_code == 201))
        assert httpx.get(f"{url}/v1/limits", headers=free.headers, timeout=30).json()["shedding"]["level"] == 0
