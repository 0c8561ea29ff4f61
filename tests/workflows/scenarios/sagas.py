"""`PlaceOrderWorkflow` and `RefundWorkflow` scenarios: each saga completed, compensated after a failing step,
and (for an order) left for a person when a compensation fails too.

Every scenario gets a shop of its own, so the faults injected for one never meet another. The sagas run on
the platform's worker, as they do when a conversation's tool call starts one.
"""

from __future__ import annotations

from temporalio.client import WorkflowHandle

from commerce.connectors.faults import inject_fault
from contracts.sagas import ORDERS_CONFIRM, PAYMENTS_REFUND, SHIPMENTS_CREATE
from tests.commerce.sagas.harness import SagaEnv, Shop, new_shop, saga_call, start_saga
from tests.workflows.scenarios import Recording


async def _shop(rec: Recording) -> tuple[SagaEnv, Shop]:
    env = SagaEnv(settings=rec.settings, client=rec.client, db=rec.db, bus=rec.bus, task_queue=rec.queue)
    return env, await new_shop(rec.settings, rec.db, "Replay shop")


async def _place(env: SagaEnv, shop: Shop) -> list[WorkflowHandle]:
    items = [{"sku": shop.skus[0], "quantity": 2}, {"sku": shop.skus[1], "quantity": 1}]
    handle = await start_saga(env, saga_call(shop, "orders.place", {"items": items}))
    await handle.result()
    return [handle]


async def _refund(env: SagaEnv, shop: Shop) -> list[WorkflowHandle]:
    arguments = {"order_id": shop.demo.ada_placed_order_id, "amount_cents": 500, "reason": "arrived late"}
    handle = await start_saga(env, saga_call(shop, "orders.refund", arguments))
    await handle.result()
    return [handle]


async def place_completed(rec: Recording) -> list[WorkflowHandle]:
    return await _place(*await _shop(rec))


async def place_compensated(rec: Recording) -> list[WorkflowHandle]:
    env, shop = await _shop(rec)
    await inject_fault(env.db, shop.tenant_id, ORDERS_CONFIRM, mode="fail")
    return await _place(env, shop)


async def place_needs_attention(rec: Recording) -> list[WorkflowHandle]:
    env, shop = await _shop(rec)
    await inject_fault(env.db, shop.tenant_id, SHIPMENTS_CREATE, mode="fail")
    await inject_fault(env.db, shop.tenant_id, PAYMENTS_REFUND, mode="fail", times=-1)
    return await _place(env, shop)


async def refund_completed(rec: Recording) -> list[WorkflowHandle]:
    return await _refund(*await _shop(rec))


async def refund_compensated(rec: Recording) -> list[WorkflowHandle]:
    env, shop = await _shop(rec)
    await inject_fault(env.db, shop.tenant_id, PAYMENTS_REFUND, mode="fail")
    return await _refund(env, shop)
