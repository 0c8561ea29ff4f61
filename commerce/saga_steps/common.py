"""What every saga step shares: the fault check that comes first, and reading the customer's order.

Steps are hidden tools (`agent_visible=False`) that only the saga workflows call. Each is idempotent by
`ctx.idempotency_key` or by the state it moves (a confirm of a placed order confirms nothing), so a retried
or repeated step never acts twice; compensations treat "nothing to undo" as done.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from agents.sdk import ToolContext, ToolNotFound
from commerce.connectors.base import DB_KEY
from commerce.connectors.faults import check_fault
from contracts.agents import RetrySpec
from contracts.retry import SAGA_STEP_START_TO_CLOSE
from contracts.sagas import OrderState
from db.database import run_sql

# The spec the workflow's own policy mirrors (`contracts.retry.SAGA_STEP_*`): tools declare the same numbers.
STEP_TIMEOUT_SECONDS = SAGA_STEP_START_TO_CLOSE.total_seconds()
STEP_RETRY = RetrySpec(max_attempts=5, initial_interval_seconds=1.0, backoff=2.0, max_interval_seconds=10.0)

# Orders a refund may start from; also the statuses an aborted refund may go back to.
REFUNDABLE = ("placed", "shipped", "delivered", "partially_refunded")

_ORDER = (
    "SELECT id, customer_id, status, total_cents, refunded_cents, currency, refund_started FROM orders"
    " WHERE id = :id AND customer_id = :customer"
)


async def fault_check(ctx: ToolContext, operation: str) -> None:
    """Meet an injected fault of `operation` first, before the step touches anything."""
    await check_fault(ctx.connector(DB_KEY), ctx.tenant_id, operation)


async def load_order(session: AsyncSession, ctx: ToolContext, order_id: str, *, lock: bool = True) -> Any:
    """The conversation's customer's order (locked for the transaction); another's is as absent as none."""
    customer = ctx.require_customer()
    sql = _ORDER + (" FOR UPDATE" if lock else "")
    row = (await run_sql(session, sql, {"id": order_id, "customer": customer})).first()
    if row is None:
        raise ToolNotFound(f"no order {order_id} for this customer")
    return row


def state_of(row: Any, **changes: Any) -> OrderState:
    values = {
        "order_id": row.id,
        "status": row.status,
        "total_cents": int(row.total_cents),
        "refunded_cents": int(row.refunded_cents),
    }
    values.update(changes)
    return OrderState(**values)


async def set_status(session: AsyncSession, order_id: str, status: str, **columns: Any) -> None:
    assignments = "".join(f", {name} = :{name}" for name in columns)
    await run_sql(
        session,
        f"UPDATE orders SET status = :status, updated_at = now(){assignments} WHERE id = :id",  # noqa: S608
        {"id": order_id, "status": status, **columns},
    )


async def adjust_stock(session: AsyncSession, quantities: dict[str, int], *, on_hand: int, reserved: int) -> None:
    """Add `on_hand * q` and `reserved * q` to each sku's counts (signs say which way), in sku order."""
    for sku in sorted(quantities):
        q = quantities[sku]
        await run_sql(
            session,
            "UPDATE products SET on_hand = on_hand + :dh, reserved = reserved + :dr WHERE sku = :sku",
            {"sku": sku, "dh": on_hand * q, "dr": reserved * q},
        )
