"""`orders.place` end to end: the happy path, and the requests it refuses or undoes without any fault injected."""

from __future__ import annotations

from contracts.sagas import SagaStatus
from contracts.tool_calls import ToolStatus
from db.database import run_sql
from tests.commerce.sagas.harness import SagaEnv, Shop, event_types, place, run_saga, saga_call, world


async def test_places_an_order_across_every_system(env: SagaEnv, shop: Shop) -> None:
    before = await world(env.db, shop.tenant_id)
    items = {shop.skus[0]: 2, shop.skus[1]: 1}
    run, result = await place(env, shop, items)

    assert result.status == ToolStatus.OK, result
    out = result.output
    assert out["saga_status"] == SagaStatus.COMPLETED and out["status"] == "placed"
    order_id = out["order_id"]
    total = sum(shop.prices[sku] * q for sku, q in items.items())
    assert out["total_cents"] == total and out["tracking_number"] and out["charge_id"]

    after = await world(env.db, shop.tenant_id)
    assert after.orders[order_id] == ("placed", 0)
    for sku, q in items.items():
        on_hand, reserved = before.stock[sku]
        assert after.stock[sku] == (on_hand - q, reserved)
    assert after.net_charged[order_id] == total and after.charges[order_id] == 1
    assert after.shipments[order_id] == ["created"] and after.labels[order_id] == ["created"]
    assert after.held == 0
    types = await event_types(env, shop.tenant_id, run.conversation_id)
    assert not [t for t in types if t.startswith("saga.")]
    assert types.count("tool.completed") == 5


async def test_unknown_sku_is_refused_before_anything_changes(env: SagaEnv, shop: Shop) -> None:
    before = await world(env.db, shop.tenant_id)
    run = saga_call(shop, "orders.place", {"items": [{"sku": "NO-SUCH-SKU", "quantity": 1}]})
    result = await run_saga(env, run)

    assert result.status == ToolStatus.ERROR and result.error_type == "ToolInputInvalid"
    assert "NO-SUCH-SKU" in result.message
    assert result.output["saga_status"] == SagaStatus.REFUSED
    assert await world(env.db, shop.tenant_id) == before
    assert not [t for t in await event_types(env, shop.tenant_id, run.conversation_id) if t.startswith("saga.")]


async def test_malformed_arguments_never_reach_a_step(env: SagaEnv, shop: Shop) -> None:
    bad = [
        {"items": []},
        {"items": [{"sku": shop.skus[0], "quantity": 0}]},
        {"items": [{"sku": shop.skus[0], "quantity": 101}]},
        {"items": [{"sku": shop.skus[0], "quantity": 1}] * 2},
        {"items": [{"sku": f"S{i}", "quantity": 1} for i in range(21)]},
        {"items": [{"sku": shop.skus[0], "quantity": 1}], "coupon": "FREE"},
    ]
    before = await world(env.db, shop.tenant_id)
    for arguments in bad:
        result = await run_saga(env, saga_call(shop, "orders.place", arguments))
        assert result.status == ToolStatus.ERROR and result.error_type == "ToolInputInvalid", arguments
        assert result.output["saga_status"] == SagaStatus.REFUSED
    assert await world(env.db, shop.tenant_id) == before


async def test_a_conversation_without_a_customer_is_denied(env: SagaEnv, shop: Shop) -> None:
    before = await world(env.db, shop.tenant_id)
    run = saga_call(shop, "orders.place", {"items": [{"sku": shop.skus[0], "quantity": 1}]})
    run = type(run)(run.workflow_id, run.conversation_id, run.call.model_copy(update={"customer_id": None}))
    result = await run_saga(env, run)
    assert result.status == ToolStatus.DENIED and result.error_type == "ToolDenied"
    assert await world(env.db, shop.tenant_id) == before


async def test_out_of_stock_undoes_the_pending_order(env: SagaEnv, shop: Shop) -> None:
    sku = shop.skus[0]
    async with env.db.tenant_session(shop.tenant_id) as session:
        await run_sql(session, "UPDATE products SET on_hand = reserved + 3 WHERE sku = :sku", {"sku": sku})
    before = await world(env.db, shop.tenant_id)
    run, result = await place(env, shop, {shop.skus[1]: 1, sku: 4})

    assert result.status == ToolStatus.ERROR and result.error_type == "ToolConflict"
    assert "not enough stock" in result.message
    out = result.output
    assert out["saga_status"] == SagaStatus.COMPENSATED and out["failed_step"] == "inventory.reserve"
    after = await world(env.db, shop.tenant_id)
    assert after.stock == before.stock and after.held == 0
    assert after.orders[out["order_id"]] == ("failed", 0)
    assert after.net_charged == before.net_charged and after.shipments == before.shipments
    types = await event_types(env, shop.tenant_id, run.conversation_id)
    assert types.count("saga.compensating") == 1 and types.count("saga.compensated") == 1
