"""The fault-injection cases of the saga tests, as data: the tests parametrize over them, the benchmark counts
(and runs) them.

- a permanent failure (`fail`) of every step of both sagas;
- a transient failure (`transient`, twice) of every step, retried until the saga completes;
- a compensation that fails for good (`fail`, forever) while undoing a failure at a later step;
- a worker killed in the middle of a slow (`latency`) step.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.sagas import (
    COMPENSATIONS,
    INVENTORY_RELEASE,
    ORDERS_ABORT_REFUND,
    ORDERS_CONFIRM,
    ORDERS_MARK_FAILED,
    PAYMENTS_REFUND,
    PLACE_ORDER_STEPS,
    REFUND_STEPS,
    SHIPMENTS_CANCEL,
    SHIPMENTS_CREATE,
)

PLACE = "orders.place"
REFUND = "orders.refund"


@dataclass(frozen=True)
class StepFault:
    saga: str
    step: str

    @property
    def id(self) -> str:
        return f"{self.saga}:{self.step}"


@dataclass(frozen=True)
class CompensationFault:
    saga: str
    failing_step: str
    compensation: str

    @property
    def id(self) -> str:
        return f"{self.saga}:{self.failing_step}:undo-{self.compensation}"


STEP_FAULTS = [StepFault(PLACE, s) for s in PLACE_ORDER_STEPS] + [StepFault(REFUND, s) for s in REFUND_STEPS]
TRANSIENT_FAULTS = list(STEP_FAULTS)
# Undoing a failed confirm runs every compensation of the place saga; each one in turn fails for good.
COMPENSATION_FAULTS = [
    CompensationFault(PLACE, ORDERS_CONFIRM, c)
    for c in (SHIPMENTS_CANCEL, PAYMENTS_REFUND, INVENTORY_RELEASE, ORDERS_MARK_FAILED)
] + [CompensationFault(REFUND, PAYMENTS_REFUND, ORDERS_ABORT_REFUND)]
CRASH_FAULTS = [StepFault(PLACE, SHIPMENTS_CREATE)]

assert {c.compensation for c in COMPENSATION_FAULTS} == set(COMPENSATIONS.values())


def counts() -> dict[str, int]:
    return {
        "step fails": len(STEP_FAULTS),
        "step transient": len(TRANSIENT_FAULTS),
        "compensation fails": len(COMPENSATION_FAULTS),
        "worker killed": len(CRASH_FAULTS),
    }
