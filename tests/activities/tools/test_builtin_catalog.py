"""The customer, inventory and shipment tools, and the demo world they are tried on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from commerce.demo import DemoData, seed_demo
from commerce.tools import load_builtin_tools
from db.database import Database, run_sql
from tests.activities.tools.conftest import MakeContext, rows, run_tool


async def test_seeding_twice_gives_the_same_world(db: Database, demo: DemoData) -> None:
    tables = ("customers", "products", "orders", "order_lines", "reservations", "shipments", "sandbox_payments")

    async def snapshot() -> dict[str, list[object]]:
        return {t: sorted(map(tuple, await rows(db, demo.tenant_id, f"SELECT * FROM {t}"))) for t in tables}  # noqa: S608

    before = await snapshot()
    assert await seed_demo(db, demo.tenant_id) == demo
    assert await snapshot() == before
    assert len(before["customers"]) == 2 and len(before["orders"]) == 4
    assert demo.order_total(demo.ada_placed_order_id) == 5500
    assert set(demo.charge_ids) == {
        demo.ada_placed_order_id,
        demo.ada_shipped_order_id,
        demo.bob_placed_order_id,
        demo.bob_shipped_order_id,
    }


async def test_customer_lookup_returns_only_the_conversations_customer(demo: DemoData, make_ctx: MakeContext) -> None:
    ada = await run_tool(await make_ctx(demo.tenant_id, demo.ada_id), "customers.lookup")
    assert (ada.customer_id, ada.email, ada.name, ada.order_count) == (
        demo.ada_id,
        "ada@example.com",
        "Ada Lovelace",
        2,
    )
    bob = await run_tool(await make_ctx(demo.tenant_id, demo.bob_id), "customers.lookup")
    assert (bob.email, bob.phone) == ("bob@example.com", None)
    with pytest.raises(ValidationError):
        load_builtin_tools().get("customers.lookup").input_model.model_validate({"customer_id": demo.bob_id})  # type: ignore[union-attr]


async def test_inventory_by_sku_and_by_name(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id)
    [mug] = (await run_tool(ctx, "inventory.check", {"sku": "sku-mug"})).products
    assert (mug.sku, mug.price_cents, mug.available, mug.in_stock) == ("SKU-MUG", 1500, 40, True)
    [cap] = (await run_tool(ctx, "inventory.check", {"query": "cap"})).products
    assert (cap.sku, cap.available, cap.in_stock) == ("SKU-CAP", 0, False)
    assert (await run_tool(ctx, "inventory.check", {"sku": "SKU-NONE"})).products == []
    # Wildcards in a search are plain characters, not patterns.
    assert (await run_tool(ctx, "inventory.check", {"query": "%%"})).products == []
    shirts = (await run_tool(ctx, "inventory.check", {"query": "T-SHIRT"})).products
    assert [p.sku for p in shirts] == ["SKU-TEE"]


async def test_availability_subtracts_reserved_stock(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    async with db.tenant_session(demo.tenant_id) as session:
        await run_sql(session, "UPDATE products SET reserved = 7 WHERE sku = 'SKU-HOODIE'")
    [hoodie] = (await run_tool(await make_ctx(demo.tenant_id), "inventory.check", {"sku": "SKU-HOODIE"})).products
    assert hoodie.available == 3


@pytest.mark.parametrize(
    "arguments",
    [{}, {"sku": "SKU-MUG", "query": "mug"}, {"sku": "bad sku!"}, {"query": "m"}, {"query": "x" * 101}, {"limit": 99}],
)
def test_inventory_arguments_are_checked(arguments: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        load_builtin_tools().get("inventory.check").input_model.model_validate(arguments)  # type: ignore[union-attr]


async def test_tracking_the_customers_orders(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.bob_id)
    shipped = await run_tool(ctx, "shipments.track", {"order_id": demo.bob_shipped_order_id})
    [shipment] = shipped.shipments
    assert (shipped.order_status, shipment.carrier, shipment.status) == ("shipped", "Sandbox Post", "in_transit")
    pending = await run_tool(ctx, "shipments.track", {"order_id": demo.bob_placed_order_id})
    assert (pending.order_status, pending.shipments) == ("placed", [])
