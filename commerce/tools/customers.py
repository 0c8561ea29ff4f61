"""`customers.lookup`: who the conversation's customer is, as the tenant's records have it."""

from __future__ import annotations

from agents.sdk import ToolContext, ToolNotFound, tool
from commerce.tools.common import READ_RETRY, READ_TIMEOUT_SECONDS, Args, Out, iso
from contracts.agents import Effect
from db.database import run_sql


class LookupCustomerArgs(Args):
    """No arguments: the customer is the conversation's, never one the model names."""


class CustomerOut(Out):
    customer_id: str
    name: str
    email: str
    phone: str | None
    customer_since: str
    order_count: int
    open_ticket_count: int


@tool(
    "customers.lookup",
    description=(
        "Look up the customer you are talking to: name, email, phone, since when they are a customer, how many "
        "orders and open support tickets they have. Takes no arguments; it only ever returns this customer."
    ),
    effect=Effect.READ,
    timeout_seconds=READ_TIMEOUT_SECONDS,
    retry=READ_RETRY,
)
async def lookup_customer(ctx: ToolContext, args: LookupCustomerArgs) -> CustomerOut:
    customer_id = ctx.require_customer()
    async with ctx.session() as session:
        row = (
            await run_sql(
                session,
                "SELECT c.id, c.name, c.email, c.phone, c.created_at, "
                "(SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS order_count, "
                "(SELECT count(*) FROM tickets t WHERE t.customer_id = c.id AND t.status <> 'closed') AS open_tickets "
                "FROM customers c WHERE c.id = :id",
                {"id": customer_id},
            )
        ).first()
    if row is None:
        raise ToolNotFound("the conversation's customer is not on record")
    return CustomerOut(
        customer_id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        customer_since=iso(row.created_at),
        order_count=int(row.order_count),
        open_ticket_count=int(row.open_tickets),
    )
