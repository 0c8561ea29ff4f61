"""The hidden step tools of the commerce sagas; importing this package registers them in the global REGISTRY.

Only `PlaceOrderWorkflow` and `RefundWorkflow` call them (`agent_visible=False`). The compensation each
step declares in its spec is the tool the saga runs to undo it.
"""

from __future__ import annotations

from commerce.saga_steps import (
    inventory_steps,
    orders_steps,
    payment_steps,
    refund_steps,
    shipment_steps,
)

__all__ = ["inventory_steps", "orders_steps", "payment_steps", "refund_steps", "shipment_steps"]
