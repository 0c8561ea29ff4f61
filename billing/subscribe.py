"""Give existing tenants their subscription: one tenant, or every tenant that has none (`aiaas admin subscribe`).

Signup starts a new tenant's subscription itself; tenants made before (by an operator, by `aiaas tenant
create`, or before billing existed) get theirs here. The plan defaults to the tenant's own, so admission and
billing agree from the start. Starting is safe to repeat: the run id is the tenant's, so a tenant that has a
subscription (running or not) is reported and left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from billing.starter import initial_state, start_subscription
from db.database import Database
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import get_tenant, list_tenants


@dataclass(frozen=True)
class Subscribed:
    tenant_id: str
    plan: str
    started: bool  # False: the tenant had a subscription already


async def subscribe_tenant(
    client: Client,
    db: Database,
    task_queue: str,
    tenant_id: str,
    *,
    plan: str | None = None,
    trial_days: int = 0,
    payment_method: str | None = None,
    now: datetime | None = None,
) -> Subscribed:
    """Start `tenant_id`'s subscription; raises TenantNotFound, or ValueError for a plan billing does not know."""
    tenant = await get_tenant(db, tenant_id)
    chosen = plan or tenant.plan
    state = initial_state(
        tenant_id, chosen, now=now or datetime.now(UTC), trial_days=trial_days, payment_method=payment_method
    )
    try:
        await start_subscription(client, task_queue, state)
    except WorkflowAlreadyStartedError:
        return Subscribed(tenant_id, chosen, started=False)
    return Subscribed(tenant_id, chosen, started=True)


async def subscribe_all(
    client: Client, db: Database, task_queue: str, *, trial_days: int = 0, now: datetime | None = None
) -> list[Subscribed]:
    """Every active tenant without a subscription gets one on its own plan."""
    done: list[Subscribed] = []
    cursor: str | None = None
    while True:
        page = await list_tenants(db, status=TenantStatus.ACTIVE.value, cursor=cursor, limit=200)
        for tenant in page.items:
            done.append(await subscribe_tenant(client, db, task_queue, tenant.id, trial_days=trial_days, now=now))
        if page.next_cursor is None:
            return done
        cursor = page.next_cursor
