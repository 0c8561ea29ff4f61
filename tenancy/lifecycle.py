"""A tenant's lifecycle: where its data lives, the states it moves through, and the moves allowed.

    active <-> suspended          traffic refused while suspended, nothing else changes
    active | suspended -> offboarding -> (purged: the row is gone)

Offboarding is one way: its first step stops the tenant's workflows and exports its data, and the purge at
the end of the retention period cannot be undone, so nothing may bring the tenant back half-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# Where a tenant's data is stored and processed. Fixed at creation: moving a tenant is a migration of its
# data, not an update of this column.
DATA_REGIONS: tuple[str, ...] = ("eu-west", "eu-central", "us-east", "us-west", "ap-southeast")
DEFAULT_DATA_REGION = "eu-west"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    OFFBOARDING = "offboarding"


ALLOWED_TRANSITIONS: dict[TenantStatus, frozenset[TenantStatus]] = {
    TenantStatus.ACTIVE: frozenset({TenantStatus.SUSPENDED, TenantStatus.OFFBOARDING}),
    TenantStatus.SUSPENDED: frozenset({TenantStatus.ACTIVE, TenantStatus.OFFBOARDING}),
    TenantStatus.OFFBOARDING: frozenset(),
}


def may_transition(current: str, target: str) -> bool:
    try:
        return TenantStatus(target) in ALLOWED_TRANSITIONS[TenantStatus(current)]
    except ValueError:
        return False


def validate_region(region: str) -> str:
    if region not in DATA_REGIONS:
        raise ValueError(f"data_region must be one of {', '.join(DATA_REGIONS)}")
    return region


@dataclass(frozen=True)
class TenantRecord:
    """A tenant as the admin API and the lifecycle workflow see it."""

    id: str
    name: str
    slug: str
    plan: str
    status: str
    data_region: str
    created_at: datetime
    offboarding_started_at: datetime | None = None
    purge_after: datetime | None = None
