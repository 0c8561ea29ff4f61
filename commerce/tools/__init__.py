"""The platform's built-in agent tools; importing this package registers them in the global REGISTRY.

    customers.lookup                       the conversation's customer
    orders.lookup / orders.list            the customer's orders (another customer's: not found)
    orders.cancel                          cancel a placed order: refund, restock (irreversible)
    inventory.check                        price and availability
    shipments.track                        tracking of the customer's order
    leads.capture / .score / .qualify      sales leads, CRM upsert
    tickets.create / tickets.escalate      support tickets, hand-off to a person

Tools read the tenant's data through `ctx.session()` (row-level security binds it to the tenant) and reach
external systems through `ctx.connector("payments" | "shipping" | "crm")`; `ctx.connector("db")` is the
`Database`, for injected faults (`commerce.connectors.factory` puts it there).
"""

from __future__ import annotations

from agents.sdk import REGISTRY, ToolRegistry
from commerce.tools import customers, inventory, leads, orders, shipments, tickets

BUILTIN_TOOLS = (
    "customers.lookup",
    "orders.lookup",
    "orders.list",
    "orders.cancel",
    "inventory.check",
    "shipments.track",
    "leads.capture",
    "leads.score",
    "leads.qualify",
    "tickets.create",
    "tickets.escalate",
)

__all__ = ["BUILTIN_TOOLS", "customers", "inventory", "leads", "load_builtin_tools", "orders", "shipments", "tickets"]


def load_builtin_tools() -> ToolRegistry:
    """The global registry, with every built-in tool registered (the imports above did it)."""
    return REGISTRY
