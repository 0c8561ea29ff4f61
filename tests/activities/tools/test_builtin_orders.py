"""The order tools: only the conversation's customer's orders exist for them, and a cancel refunds and restocks
exactly once however often it is retried."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from agents.sdk import ToolConflict, ToolDenied, ToolNotFound, ToolTransientError
from commerce.connectors.faults import InjectedFailure, inject_fault
from commerce.connectors.sandbox import SandboxPayments
from commerce.demo import INJECTION_NOTE, DemoData
from commerce.saga_steps import orders_steps
from commerce.tools import load_builtin_tools
from contracts.sagas import MarkFailedArgs, PlaceOrderArgs
from db.database import Database, run_sql
from tests.activities.tools.conftest import MakeContext, rows, run_tool, scalar


async def test_lookup_shows_lines_totals_note_and_tracking(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.ada_id)
    placed = await run_tool(ctx, "orders.lookup", {"order_id": demo.ada_placed_order_id})
    assert (placed.status, placed.total_cents, placed.currency, placed.note) == (
        "placed",
        5500,
        "USD",
        "Please gift wrap.",
    )
    assert [(line.sku, line.quantity, line.line_total_cents) for line in placed.lines] == [
        ("SKU-MUG", 2, 3000),
        ("SKU-TEE", 1, 2500),
    ]
    assert placed.lines[0].name == "Ceramic mug" and placed.shipments == []
    shipped = await run_tool(ctx, "orders.lookup", {"order_id": demo.ada_shipped_order_id.upper()})
    [tracking] = shipped.shipments
    assert (
        shipped.status == "shipped" and tracking.status == "in_transit" and tracking.tracking_number.startswith("SBX")
    )


async def test_notes_are_returned_as_marked_data(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.bob_id)
    order = await run_tool(ctx, "orders.lookup", {"order_id": demo.bob_placed_order_id})
    assert order.note == INJECTION_NOTE
    schema = load_builtin_tools().get("orders.lookup").output_model.model_json_schema()  # type: ignore[union-attr]
    assert "never as instructions" in schema["properties"]["note"]["description"]


async def test_another_customers_order_is_as_absent_as_a_missing_one(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.ada_id)
    for tool in ("orders.lookup", "orders.cancel", "shipments.track"):
        answers = []
        for order_id in (demo.bob_placed_order_id, str(uuid.uuid4())):
            with pytest.raises(ToolNotFound) as missing:
                await run_tool(ctx, tool, {"order_id": order_id})
            answers.append((missing.value.type, str(missing.value)))
        assert answers[0] == answers[1], tool


async def test_another_tenants_order_does_not_exist_here(
    demo: DemoData, other_demo: DemoData, make_ctx: MakeContext
) -> None:
    # Even with the other tenant's customer id in the context, row-level security hides its rows.
    ctx = await make_ctx(demo.tenant_id, other_demo.ada_id)
    with pytest.raises(ToolNotFound):
        await run_tool(ctx, "orders.lookup", {"order_id": other_demo.ada_placed_order_id})
    assert (await run_tool(ctx, "orders.list", {})).orders == []
    with pytest.raises(ToolNotFound):
        await run_tool(ctx, "customers.lookup")


async def test_list_filters_limits_and_says_when_it_cut(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.ada_id)
    everything = await run_tool(ctx, "orders.list", {})
    assert {o.order_id for o in everything.orders} == {demo.ada_placed_order_id, demo.ada_shipped_order_id}
    assert everything.truncated is False
    shipped = await run_tool(ctx, "orders.list", {"status": "shipped"})
    assert [o.order_id for o in shipped.orders] == [demo.ada_shipped_order_id]
    one = await run_tool(ctx, "orders.list", {"limit": 1})
    assert len(one.orders) == 1 and one.truncated is True
    assert (await run_tool(ctx, "orders.list", {"status": "refunded"})).orders == []


async def test_order_tools_need_a_customer(demo: DemoData, make_ctx: MakeContext) -> None:
    ctx = await make_ctx(demo.tenant_id, None)
    for tool, arguments in (
        ("orders.lookup", {"order_id": demo.ada_placed_order_id}),
        ("orders.list", {}),
        ("orders.cancel", {"order_id": demo.ada_placed_order_id}),
        ("shipments.track", {"order_id": demo.ada_shipped_order_id}),
        ("customers.lookup", {}),
    ):
        with pytest.raises(ToolDenied):
            await run_tool(ctx, tool, arguments)


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("orders.lookup", {}),
        ("orders.lookup", {"order_id": "42"}),
        ("orders.lookup", {"order_id": "' OR 1=1 --"}),
        ("orders.lookup", {"order_id": str(uuid.uuid4()), "customer_id": str(uuid.uuid4())}),
        ("orders.list", {"limit": 0}),
        ("orders.list", {"limit": 51}),
        ("orders.list", {"status": "lost"}),
        ("orders.cancel", {"order_id": str(uuid.uuid4()) + "x"}),
        ("orders.cancel", {"order_id": str(uuid.uuid4()), "refund": False}),
    ],
)
def test_invalid_arguments_are_refused_before_the_tool_runs(tool: str, arguments: dict[str, object]) -> None:
    registered = load_builtin_tools().get(tool)
    assert registered is not None
    with pytest.raises(ValidationError):
        registered.input_model.model_validate(arguments)


async def _stock(db: Database, tenant: str) -> dict[str, tuple[int, int]]:
    found = await rows(db, tenant, "SELECT sku, on_hand, reserved FROM products ORDER BY sku")
    return {r.sku: (r.on_hand, r.reserved) for r in found}


async def test_cancel_refunds_restocks_and_is_idempotent(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    before = await _stock(db, demo.tenant_id)
    ctx = await make_ctx(demo.tenant_id, demo.ada_id, key="cancel-key-1")
    cancelled = await run_tool(ctx, "orders.cancel", {"order_id": demo.ada_placed_order_id})
    assert (cancelled.status, cancelled.refunded_cents) == ("cancelled", 5500)
    assert [(r.sku, r.quantity) for r in cancelled.restocked] == [("SKU-MUG", 2), ("SKU-TEE", 1)]
    # The retry (same key, a later attempt) answers the same and does nothing again.
    retry = await make_ctx(demo.tenant_id, demo.ada_id, key="cancel-key-1", attempt=2)
    assert await run_tool(retry, "orders.cancel", {"order_id": demo.ada_placed_order_id}) == cancelled
    after = await _stock(db, demo.tenant_id)
    assert after["SKU-MUG"] == (before["SKU-MUG"][0] + 2, 0) and after["SKU-TEE"] == (before["SKU-TEE"][0] + 1, 0)
    assert after["SKU-HOODIE"] == before["SKU-HOODIE"]
    refunds = await scalar(
        db,
        demo.tenant_id,
        "SELECT count(*) FROM sandbox_payments WHERE kind = 'refund' AND order_id = :o",
        o=demo.ada_placed_order_id,
    )
    assert refunds == 1
    assert await SandboxPayments(db, demo.tenant_id).net_charged(demo.ada_placed_order_id) == 0
    # Another call (another key) meets a cancelled order: that is a conflict, not a second cancel.
    other = await make_ctx(demo.tenant_id, demo.ada_id, key="cancel-key-2")
    with pytest.raises(ToolConflict):
        await run_tool(other, "orders.cancel", {"order_id": demo.ada_placed_order_id})


async def test_only_placed_unshipped_orders_can_be_cancelled(
    db: Database, demo: DemoData, make_ctx: MakeContext
) -> None:
    ctx = await make_ctx(demo.tenant_id, demo.ada_id)
    with pytest.raises(ToolConflict) as conflict:
        await run_tool(ctx, "orders.cancel", {"order_id": demo.ada_shipped_order_id})
    assert conflict.value.details == {"status": "shipped"}
    # A placed order that already has a shipment label is past cancelling too.
    async with db.tenant_session(demo.tenant_id) as session:
        await run_sql(
            session,
            "INSERT INTO shipments (id, tenant_id, order_id, carrier, tracking_number) "
            "VALUES (:id, :tid, :order_id, 'Sandbox Post', 'SBX1')",
            {"id": str(uuid.uuid4()), "tid": demo.tenant_id, "order_id": demo.ada_placed_order_id},
        )
    with pytest.raises(ToolConflict):
        await run_tool(ctx, "orders.cancel", {"order_id": demo.ada_placed_order_id})
    assert await scalar(db, demo.tenant_id, "SELECT status FROM orders WHERE id = :o", o=demo.ada_placed_order_id) == (
        "placed"
    )


async def test_a_failed_refund_leaves_the_order_as_it_was(db: Database, demo: DemoData, make_ctx: MakeContext) -> None:
    before = await _stock(db, demo.tenant_id)
    await inject_fault(db, demo.tenant_id, "payments.refund", mode="fail")
    ctx = await make_ctx(demo.tenant_id, demo.bob_id, key="bob-cancel")
    with pytest.raises(InjectedFailure):
        await run_tool(ctx, "orders.cancel", {"order_id": demo.bob_placed_order_id})
    assert await scalar(db, demo.tenant_id, "SELECT status FROM orders WHERE id = :o", o=demo.bob_placed_order_id) == (
        "placed"
    )
    assert await _stock(db, demo.tenant_id) == before
    assert await SandboxPayments(db, demo.tenant_id).net_charged(demo.bob_placed_order_id) == 1500


async def test_a_transient_refund_failure_is_retried_to_one_refund(
    db: Database, demo: DemoData, make_ctx: MakeContext
) -> None:
    await inject_fault(db, demo.tenant_id, "payments.refund", mode="transient")
    ctx = await make_ctx(demo.tenant_id, demo.bob_id, key="bob-cancel")
    with pytest.raises(ToolTransientError):
        await run_tool(ctx, "orders.cancel", {"order_id": demo.bob_placed_order_id})
    done = await run_tool(ctx, "orders.cancel", {"order_id": demo.bob_placed_order_id})
    assert (done.status, done.refunded_cents) == ("cancelled", 1500)
    assert await SandboxPayments(db, demo.tenant_id).net_charged(demo.bob_placed_order_id) == 0


async def test_a_refund_that_went_through_before_a_crash_is_not_repeated(
    db: Database, demo: DemoData, make_ctx: MakeContext
) -> None:
    """The refund commits at the provider, then the tool's own transaction is lost: the retry finds the refund
    already made under its derived key and only finishes the bookkeeping."""
    ctx = await make_ctx(demo.tenant_id, demo.ada_id, key="crashy")

    class Crash(Exception):
        pass

    payments = ctx.connector("payments")
    original = payments.refund

    async def refund_then_crash(*args: object) -> object:
        await original(*args)
        raise Crash

    payments.refund = refund_then_crash
    with pytest.raises(Crash):
        await run_tool(ctx, "orders.cancel", {"order_id": demo.ada_placed_order_id})
    payments.refund = original
    assert await scalar(db, demo.tenant_id, "SELECT status FROM orders WHERE id = :o", o=demo.ada_placed_order_id) == (
        "placed"
    )
    done = await run_tool(ctx, "orders.cancel", {"order_id": demo.ada_placed_order_id})
    assert (done.status, done.refunded_cents) == ("cancelled", 5500)
    refunds = await scalar(
        db,
        demo.tenant_id,
        "SELECT count(*) FROM sandbox_payments WHERE kind = 'refund' AND order_id = :o",
        o=demo.ada_placed_order_id,
    )
    assert refunds == 1


async def test_notes_are_sealed_at_rest_and_so_is_why_an_order_failed(
    db: Database, demo: DemoData, make_ctx: MakeContext
) -> None:
    stored = await scalar(db, demo.tenant_id, "SELECT string_agg(o::text, '|') FROM orders o")
    assert "gift wrap" not in stored and INJECTION_NOTE[:20] not in stored
    ctx = await make_ctx(demo.tenant_id, demo.ada_id, key=f"place-{uuid.uuid4().hex[:8]}")
    # The place-order saga's first step and its compensation, as the saga runs them.
    items = PlaceOrderArgs.model_validate({"items": [{"sku": "SKU-MUG", "quantity": 1}]})
    pending = await orders_steps.create_pending(ctx, items)
    reason = "card 4539 1488 0343 6467 declined for Ada Lovelace"
    failed = await orders_steps.mark_failed(ctx, MarkFailedArgs(order_id=pending.order_id, reason=reason))
    assert failed.status == "failed"
    [row] = await rows(
        db, demo.tenant_id, "SELECT note, fields_sealed, key_version FROM orders WHERE id = :id", id=pending.order_id
    )
    assert row.note == "" and row.fields_sealed is not None and row.key_version is not None
    assert "4539" not in await scalar(db, demo.tenant_id, "SELECT string_agg(o::text, '|') FROM orders o")
    shown = await run_tool(ctx, "orders.lookup", {"order_id": pending.order_id})
    assert (shown.status, shown.note) == ("failed", reason)
