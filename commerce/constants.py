"""Values the commerce code shares with the schema of migration 0005.

The migration keeps its own copies (a migration must not change when application code does); the check
constraints there are what enforces them, these are what the code validates against before it writes.
"""

from __future__ import annotations

# `ck_orders_status`.
ORDER_STATUSES = (
    "pending",
    "placed",
    "shipped",
    "delivered",
    "cancelled",
    "failed",
    "refund_pending",
    "partially_refunded",
    "refunded",
)
# `ck_connector_configs_system`: the external systems a tenant may point at a connector of its own.
CONNECTOR_SYSTEMS = ("payments", "shipping", "crm")
# `ck_connector_configs_timeout` caps the timeout; the column's server default is the default here.
MAX_CONNECTOR_TIMEOUT_SECONDS = 60.0
DEFAULT_CONNECTOR_TIMEOUT_SECONDS = 10.0
