"""`orders.refund` end to end: partial and full refunds, and the refunds it refuses."""

from __future__ import annotations

from contracts.sagas import SagaStatus
from contracts.tool_calls import ToolStatus
from tests.commerce.sagas.harness import (
    SagaEnv,
    SagaRun,
    Shop,
    event_types,
    new_shop,
    place,
    run_saga,
    saga_call,
    world,
)


async def _placed(env: SagaEnv, shop: Shop) -> tuple[str, int]:
    _run, result = await place(env, shop)
    assert result.status == ToolStatus.OK, result
    return result.output["order_id"], result.output["total_cents"]


def _refund(shop: Shop, order_id: str, amount: int) -> SagaRun:
    return saga_call(shop, "orders.refund", {"order_id": order_id, "amount_cents": amount, "reason": "damaged"})


async def test_partial_refund(env: SagaEnv, shop: Shop) -> None:
    order_id, total = await _placed(env, shop)
    before = await world(env.db, shop.tenant_id)
    run = _refund(shop, order_id, 100)
    result = await run_saga(env, run)

    assert result.status == ToolStatus.OK, result
    assert result.output["saga_status"] == SagaStatus.COMPLETED
    assert result.output["status"] == "partially_refunded" and result.output["refunded_cents"] == 100
    after = await world(env.db, shop.tenant_id)
    assert after.orders[order_id] == ("partially_refunded", 100)
    assert after.net_charged[order_id] == total - 100 and after.refunds[order_id] == 1
    assert after.stock == before.stock and after.labels[order_id] == ["created"]
    assert not [t for t in await event_types(env, shop.tenant_id, run.conversation_id) if t.startswith("saga.")]

    # The rest, in a second refund: refunded in full, and as its label never left, the goods are restocked.
    rest = await run_saga(env, _refund(shop, order_id, total - 100))
    assert rest.status == ToolStatus.OK and rest.output["status"] == "refunded"
    final = await world(env.db, shop.tenant_id)
    assert final.net_charged[order_id] == 0 and final.labels[order_id] == ["cancelled"]
    for sku, (on_hand, reserved) in before.stock.items():
        ordered = {shop.skus[0]: 2, shop.skus[1]: 1}.get(sku, 0)
        assert final.stock[sku] == (on_hand + ordered, reserved)


async def test_full_refund_of_an_unshipped_order_restocks_it(env: SagaEnv, shop: Shop) -> None:
    start = await world(env.db, shop.tenant_id)
    order_id, total = await _placed(env, shop)
    result = await run_saga(env, _refund(shop, order_id, total))

    assert result.status == ToolStatus.OK, result
    after = await world(env.db, shop.tenant_id)
    assert after.orders[order_id] == ("refunded", total)
    assert after.net_charged[order_id] == 0
    assert after.stock == start.stock
    assert after.shipments[order_id] == ["cancelled"] and after.labels[order_id] == ["cancelled"]


async def test_refunds_beyond_what_was_paid_are_refused(env: SagaEnv, shop: Shop) -> None:
    order_id, total = await _placed(env, shop)
    before = await world(env.db, shop.tenant_id)
    for amount in (total + 1, 10**7):
        result = await run_saga(env, _refund(shop, order_id, amount))
        assert result.status == ToolStatus.ERROR and result.error_type == "ToolConflict", result
        assert result.output["saga_status"] == SagaStatus.REFUSED
    bad = await run_saga(env, _refund(shop, order_id, 0))
    assert bad.error_type == "ToolInputInvalid"
    assert await world(env.db, shop.tenant_id) == before


async def test_another_customers_or_tenants_order_is_not_found(env: SagaEnv, shop: Shop) -> None:
    order_id, _total = await _placed(env, shop)
    other = await new_shop(env.settings, env.db, "Other shop")
    before = await world(env.db, shop.tenant_id)
    bobs = shop.demo.bob_placed_order_id
    for run in (
        _refund(other, order_id, 100),
        _refund(shop, "no-such-order", 100),
        _refund(shop, bobs, 100),  # the conversation is Ada's
    ):
        result = await run_saga(env, run)
        assert result.status == ToolStatus.DENIED and result.error_type == "ToolNotFound", result
    assert await world(env.db, shop.tenant_id) == before
