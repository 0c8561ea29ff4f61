"""A worker killed in the middle of a saga, and steps repeated with the same key: nothing happens twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.sdk import REGISTRY, ToolConflict, ToolContext
from commerce.connectors.factory import ConnectorFactory
from commerce.connectors.faults import inject_fault
from contracts.sagas import SagaStatus
from contracts.tool_calls import ToolStatus, idempotency_key
from core.settings import Settings
from core.stack.process import ManagedProcess
from db.database import run_sql
from tests.commerce.sagas.cases import CRASH_FAULTS
from tests.commerce.sagas.harness import SagaEnv, Shop, saga_call, saga_env, start_saga, world
from tests.e2e.platform import platform_env


class SagaWorkerProcess:
    """`python -m tests.commerce.sagas.saga_worker` on one task queue: started, SIGKILLed, started again."""

    def __init__(self, settings: Settings, data_dir: Path, task_queue: str) -> None:
        worker_settings = settings.model_copy(update={"task_queue": task_queue})
        self.process = ManagedProcess(
            f"saga-worker-{task_queue}",
            [sys.executable, "-m", "tests.commerce.sagas.saga_worker"],
            data_dir=data_dir,
            env=platform_env(worker_settings, data_dir),
        )

    def start(self) -> None:
        self.process.start()
        started = time.monotonic()
        # Ready once alive for two seconds: imports done and connected (a failure to connect exits at once).
        self.process.wait_ready(lambda: time.monotonic() - started >= 2.0, timeout=60)

    def kill(self) -> None:
        assert self.process.pid is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.stop()


@pytest.fixture
def worker_process(saga_settings: Settings, tmp_path: Path) -> Iterator[SagaWorkerProcess]:
    process = SagaWorkerProcess(saga_settings, tmp_path, f"sagas-proc-{uuid.uuid4().hex[:8]}")
    process.start()
    try:
        yield process
    finally:
        process.process.stop()


@pytest.mark.slow
async def test_a_worker_killed_mid_saga_still_places_the_order_once(
    saga_settings: Settings, shop: Shop, worker_process: SagaWorkerProcess
) -> None:
    (case,) = CRASH_FAULTS
    queue = worker_process.process.name.removeprefix("saga-worker-")
    async with saga_env(saga_settings, task_queue=queue, with_worker=False) as env:
        await inject_fault(env.db, shop.tenant_id, case.step, mode="latency", latency_ms=8000)
        run = saga_call(shop, case.saga, {"items": [{"sku": shop.skus[0], "quantity": 1}]})
        handle = await start_saga(env, run)
        await _until_fault_met(env, shop)
        worker_process.kill()
        await asyncio.sleep(1.0)
        worker_process.start()
        result = await asyncio.wait_for(handle.result(), timeout=120)

        assert result.status == ToolStatus.OK, result
        assert result.output["saga_status"] == SagaStatus.COMPLETED
        order_id = result.output["order_id"]
        after = await world(env.db, shop.tenant_id)
        assert after.orders[order_id] == ("placed", 0)
        assert after.charges[order_id] == 1 and after.refunds.get(order_id, 0) == 0
        assert after.shipments[order_id] == ["created"] and after.labels[order_id] == ["created"]
        # The step really was cut off and run again: two attempts of it, one shipment.
        started = [
            e.data["attempt"]
            for e in await env.bus.history(shop.tenant_id, run.conversation_id)
            if e.type == "tool.started" and e.data["tool"] == case.step
        ]
        assert started == [1, 2]


async def _until_fault_met(env: SagaEnv, shop: Shop) -> None:
    """The latency fault is spent (deleted) when the step meets it: the worker is then inside the step."""
    for _ in range(300):
        async with env.db.tenant_session(shop.tenant_id) as session:
            left = (await run_sql(session, "SELECT count(*) FROM sandbox_faults")).scalar_one()
        if left == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the saga never reached the slow step")


async def test_every_step_repeated_with_its_key_acts_once(env: SagaEnv, shop: Shop) -> None:
    """What a retried attempt does after the first one committed: the same answer, and no second effect."""
    factory = ConnectorFactory(env.db, env.settings)
    connectors = await factory.for_tenant(shop.tenant_id)
    saga_key = uuid.uuid4().hex

    def ctx(tool: str) -> ToolContext:
        return ToolContext(
            tenant_id=shop.tenant_id,
            conversation_id="c",
            message_id="m",
            call_id=tool,
            customer_id=shop.customer_id,
            idempotency_key=idempotency_key(saga_key, tool),
            attempt=1,
            session=lambda: env.db.tenant_session(shop.tenant_id),
            connectors=connectors,
        )

    async def twice(tool: str, arguments: dict) -> dict:  # type: ignore[type-arg]
        item = REGISTRY.get(tool)
        assert item is not None and item.fn is not None and not item.spec.agent_visible
        args = item.input_model.model_validate(arguments)
        first = (await item.fn(ctx(tool), args)).model_dump()
        second = (await item.fn(ctx(tool), args)).model_dump()
        if tool == "inventory.reserve":
            assert second["quantities"] == {}  # the repeat reserved nothing more
            return first
        assert second == first, tool
        return first

    before = await world(env.db, shop.tenant_id)
    order = await twice("orders.create_pending", {"items": [{"sku": shop.skus[0], "quantity": 2}]})
    ref = {"order_id": order["order_id"]}
    await twice("inventory.reserve", ref)
    charge = await twice("payments.charge", ref)
    await twice("shipments.create", ref)
    await twice("orders.confirm", ref)
    after = await world(env.db, shop.tenant_id)
    order_id = order["order_id"]
    assert list(set(after.orders) - set(before.orders)) == [order_id]
    on_hand, reserved = before.stock[shop.skus[0]]
    assert after.stock[shop.skus[0]] == (on_hand - 2, reserved)
    assert (
        after.charges[order_id] == 1
        and after.labels[order_id] == ["created"]
        and after.shipments[order_id] == ["created"]
    )

    # A refund's start committed by an attempt that died before answering: the retry gets the same answer,
    # while another refund (another key) is still refused as the order is refund_pending.
    started = await twice("orders.begin_refund", {"order_id": order_id, "amount_cents": 50})
    assert started["previous_status"] == "placed" and started["charge_id"] == charge["charge_id"]
    other = REGISTRY.get("orders.begin_refund")
    assert other is not None and other.fn is not None
    with pytest.raises(ToolConflict):
        await other.fn(
            ctx("another refund"), other.input_model.model_validate({"order_id": order_id, "amount_cents": 50})
        )

    refund = {"order_id": order_id, "charge_id": charge["charge_id"], "amount_cents": 50}
    await twice("payments.refund", refund)
    assert (await world(env.db, shop.tenant_id)).net_charged[order_id] == charge["amount_cents"] - 50
    completed = await twice(
        "orders.complete_refund", {"order_id": order_id, "amount_cents": 50, "previous_status": "placed"}
    )
    assert completed["status"] == "partially_refunded" and completed["refunded_cents"] == 50
    await factory.close()


async def test_a_cancelled_saga_finishes_its_step_then_undoes(env: SagaEnv, shop: Shop) -> None:
    """Cancelling never cuts a step in half: the reserve in flight completes, and is then released."""
    before = await world(env.db, shop.tenant_id)
    await inject_fault(env.db, shop.tenant_id, "inventory.reserve", mode="latency", latency_ms=2000)
    run = saga_call(shop, "orders.place", {"items": [{"sku": shop.skus[0], "quantity": 3}]})
    handle = await start_saga(env, run)
    await _until_fault_met(env, shop)
    await handle.cancel()
    result = await asyncio.wait_for(handle.result(), timeout=60)

    assert result.status == ToolStatus.ERROR and result.error_type == "SagaCancelled"
    out = result.output
    assert out["saga_status"] == SagaStatus.COMPENSATED and out["failed_step"] == "payments.charge"
    assert out["compensated"] == ["release the reserved stock", "mark the order failed"]
    after = await world(env.db, shop.tenant_id)
    assert after.stock == before.stock and after.held == 0
    assert after.orders[out["order_id"]] == ("failed", 0)
    assert after.net_charged == before.net_charged
