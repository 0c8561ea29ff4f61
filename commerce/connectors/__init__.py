"""Connectors to the external systems agent tools act on: payments, shipping and a CRM.

`base` holds the protocols, result types and errors; `sandbox` and `http` the two implementations; `factory`
picks them per tenant; `faults` injects failures for tests and drills; `config` stores each tenant's choice.
"""

from commerce.connectors.base import (
    DB_KEY,
    SYSTEMS,
    Charge,
    ConnectorError,
    ConnectorRejected,
    Contact,
    CrmConnector,
    PaymentsConnector,
    Refund,
    ShipmentLabel,
    ShippingConnector,
)
from commerce.connectors.faults import InjectedFailure, check_fault, clear_faults, inject_fault

__all__ = [
    "DB_KEY",
    "SYSTEMS",
    "Charge",
    "ConnectorError",
    "ConnectorRejected",
    "Contact",
    "CrmConnector",
    "InjectedFailure",
    "PaymentsConnector",
    "Refund",
    "ShipmentLabel",
    "ShippingConnector",
    "check_fault",
    "clear_faults",
    "inject_fault",
]
