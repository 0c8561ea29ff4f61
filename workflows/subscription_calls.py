"""The activities `SubscriptionWorkflow` calls besides closing and charging: the projection with its audit
entry, webhook events, the tenant's suspension; and its two waits on the clock.

Each call keeps its idempotency key derived from the workflow id (or the update being handled), so an activity
retry or a replayed run writes, publishes or suspends nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.billing import (
        BILLING_RETRY,
        BILLING_START_TO_CLOSE,
        RecordSubscriptionInput,
        SetTenantStatusInput,
        SubscriptionState,
    )
    from contracts.names import ACT_BILLING_RECORD, ACT_BILLING_SET_TENANT_STATUS, ACT_WEBHOOK_PUBLISH
    from contracts.webhooks import PUBLISH_START_TO_CLOSE, PublishWebhookInput, WebhookEventType

Audit = tuple[str, dict[str, Any]]


def update_key() -> str:
    """A key unique to the update being handled (or to the run, outside an update)."""
    info = workflow.current_update_info()
    return f"{workflow.info().workflow_id}:{info.id if info else workflow.info().run_id}"


async def sleep_until(moment: datetime, summary: str) -> None:
    remaining = moment - workflow.now()
    if remaining > timedelta(0):
        await workflow.sleep(remaining, summary=summary)


async def record(state: SubscriptionState, audit: Audit | None, *, key: str | None, actor: str) -> None:
    """Store the subscription's projection, with an audit entry when `audit` names one."""
    action, details = audit if audit else ("", {})
    audit_key = f"{workflow.info().workflow_id}:{key}" if key else update_key()
    await workflow.execute_activity(
        ACT_BILLING_RECORD,
        RecordSubscriptionInput(
            state=state, audit_action=action, audit_actor=actor, audit_key=audit_key, audit_details=details
        ),
        start_to_close_timeout=BILLING_START_TO_CLOSE,
        retry_policy=BILLING_RETRY,
    )


async def publish(state: SubscriptionState, event: WebhookEventType, key: str, data: dict[str, Any]) -> None:
    await workflow.execute_activity(
        ACT_WEBHOOK_PUBLISH,
        PublishWebhookInput(
            tenant_id=state.tenant_id,
            event_type=event,
            data={"subscription": state.tenant_id, **data},
            idempotency_key=f"{state.tenant_id}:{key}",
            occurred_at=workflow.now(),
        ),
        start_to_close_timeout=PUBLISH_START_TO_CLOSE,
        retry_policy=BILLING_RETRY,
    )


async def set_tenant_status(tenant_id: str, *, suspended: bool, reason: str) -> None:
    await workflow.execute_activity(
        ACT_BILLING_SET_TENANT_STATUS,
        SetTenantStatusInput(tenant_id=tenant_id, suspended=suspended, reason=reason),
        result_type=str,
        start_to_close_timeout=BILLING_START_TO_CLOSE,
        retry_policy=BILLING_RETRY,
    )
