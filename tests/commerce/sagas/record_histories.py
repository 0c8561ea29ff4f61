"""Record `PlaceOrderWorkflow` and `RefundWorkflow` histories into `tests/workflows/histories/` for the replay tests.

    python -m tests.commerce.sagas.record_histories

Runs on a real stack (the one `TEMPORAL_ADDRESS`/`DATABASE_URL`/`REDIS_URL` name, or an embedded one of its
own) with an in-process saga worker, as `tests/workflows/record_histories.py` does for conversations. Histories are
stored decoded (synthetic data only; replay needs no keys). Re-record whenever a saga changes on purpose.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import WorkflowHandle

from commerce.connectors.faults import inject_fault
from contracts.sagas import ORDERS_CONFIRM, PAYMENTS_REFUND, SHIPMENTS_CREATE
from core.settings import Settings
from db.migrate import migrate
from tests.commerce.sagas.harness import SagaEnv, Shop, new_shop, saga_call, saga_env, start_saga
from tests.workflows.history_files import run_recorder, store_history

Scenario = Callable[[SagaEnv, Shop], Awaitable[WorkflowHandle]]


async def _place(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    items = [{"sku": shop.skus[0], "quantity": 2}, {"sku": shop.skus[1], "quantity": 1}]
    handle = await start_saga(env, saga_call(shop, "orders.place", {"items": items}))
    await handle.result()
    return handle


async def place_completed(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    return await _place(env, shop)


async def place_compensated(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    await inject_fault(env.db, shop.tenant_id, ORDERS_CONFIRM, mode="fail")
    return await _place(env, shop)


async def place_needs_attention(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    await inject_fault(env.db, shop.tenant_id, SHIPMENTS_CREATE, mode="fail")
    await inject_fault(env.db, shop.tenant_id, PAYMENTS_REFUND, mode="fail", times=-1)
    return await _place(env, shop)


async def _refund(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    order_id = shop.demo.ada_placed_order_id
    arguments = {"order_id": order_id, "amount_cents": 500, "reason": "arrived late"}
    handle = await start_saga(env, saga_call(shop, "orders.refund", arguments))
    await handle.result()
    return handle


async def refund_completed(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    return await _refund(env, shop)


async def refund_compensated(env: SagaEnv, shop: Shop) -> WorkflowHandle:
    await inject_fault(env.db, shop.tenant_id, PAYMENTS_REFUND, mode="fail")
    return await _refund(env, shop)


SCENARIOS: dict[str, Scenario] = {
    "place_order_completed": place_completed,
    "place_order_compensated": place_compensated,
    "place_order_needs_attention": place_needs_attention,
    "refund_completed": refund_completed,
    "refund_compensated": refund_compensated,
}


async def record(settings: Settings) -> list[Path]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    written: list[Path] = []
    async with saga_env(settings, task_queue=f"record-sagas-{uuid.uuid4().hex[:6]}") as env:
        assert env.worker is not None
        async with env.worker:
            for name, scenario in SCENARIOS.items():
                # A shop per scenario: faults injected for one never meet another.
                handle = await scenario(env, await new_shop(settings, env.db, "Replay shop"))
                written.append(await store_history(name, handle, env.client.data_converter.payload_codec))
    return written


def main() -> int:
    return run_recorder(record, env="test")


if __name__ == "__main__":
    sys.exit(main())
