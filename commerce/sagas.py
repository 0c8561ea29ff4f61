"""The agent-facing tools that are sagas: `orders.place` and `orders.refund`.

Each runs as its saga workflow (`workflows/place_order.py`, `workflows/refund.py`) with the call's
`ToolCallInput`. The input models are what the model sees (`extra="forbid"`); they live with the workflows'
types so the workflow validates the same schema. Importing this module registers both in the global
REGISTRY, and imports the hidden step tools the sagas call.
"""

from __future__ import annotations

import commerce.saga_steps  # noqa: F401  (the steps must be registered wherever the sagas are)
from agents.sdk import Tool, saga_tool
from contracts.agents import ApprovalRule, Effect
from contracts.names import WF_PLACE_ORDER, WF_REFUND
from contracts.provenance import ToolPolicy
from contracts.sagas import PlaceOrderArgs, RefundArgs

# Worst case of a saga: every step spends its retries, then every compensation spends its own. A run cut
# short by a timeout would stop halfway through undoing, so the limit is well above that (about 40 min).
SAGA_TIMEOUT_SECONDS = 3600.0
# Refunds above this many cents wait for a person's approval before the saga starts.
REFUND_APPROVAL_ABOVE_CENTS = 10_000

PLACE_ORDER: Tool = saga_tool(
    "orders.place",
    description=(
        "Place an order for the customer: reserves the stock, charges the order total, creates the shipment. "
        "All or nothing: if any part fails, nothing is charged and no stock stays reserved."
    ),
    input_model=PlaceOrderArgs,
    workflow=WF_PLACE_ORDER,
    effect=Effect.WRITE,
    # Items are skus from the catalogue, not anyone's records: the customer's wish to buy is what counts.
    policy=ToolPolicy(intents=["buy", "purchas", "reorder"], question="Shall I place this order for you? yes/no"),
    timeout_seconds=SAGA_TIMEOUT_SECONDS,
)

REFUND_ORDER: Tool = saga_tool(
    "orders.refund",
    description=(
        "Refund part or all of one of the customer's orders, in cents. A full refund of an order that has "
        "not shipped puts the goods back in stock. Refunds above 100.00 need a person's approval."
    ),
    input_model=RefundArgs,
    workflow=WF_REFUND,
    effect=Effect.IRREVERSIBLE,
    approval=ApprovalRule(argument="amount_cents", above=REFUND_APPROVAL_ABOVE_CENTS),
    policy=ToolPolicy(
        intents=["refund", "reimburs", "repay"],
        grounded_args=["order_id"],
        question="Shall I refund {amount_cents} cents of order {order_id}? yes/no",
    ),
    timeout_seconds=SAGA_TIMEOUT_SECONDS,
)
