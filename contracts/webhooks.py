"""Webhooks: the one registry of event types tenants may subscribe to, and the delivery workflow's contracts.

A new event type is one member of `WebhookEventType` (its value is what tenants filter on and what the
payload's `type` says); whoever emits it calls the `webhooks.publish` activity (`ACT_WEBHOOK_PUBLISH`) with a
`PublishWebhookInput`. Nothing else has to change: endpoints subscribe by these values, the delivery workflow
does not care which type it carries.

The retry schedule is the Standard Webhooks one: immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
14 h, 20 h and 24 h (about 75 hours in all), each delay stretched by up to `RETRY_JITTER` at random so that
a receiver coming back from an outage is not hit by every sender at the same second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field
from temporalio.common import RetryPolicy

from contracts.base import Frozen


class WebhookEventType(StrEnum):
    # Billing.
    INVOICE_CREATED = "invoice.created"
    INVOICE_PAID = "invoice.paid"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    SUBSCRIPTION_UPDATED = "subscription.updated"
    SUBSCRIPTION_SUSPENDED = "subscription.suspended"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    TRIAL_ENDING = "trial.ending"
    TRIAL_ENDED = "trial.ended"
    # The rest of the platform.
    BUDGET_THRESHOLD = "budget.threshold"
    APPROVAL_REQUESTED = "approval.requested"
    SAGA_NEEDS_ATTENTION = "saga.needs_attention"
    CONVERSATION_CLOSED = "conversation.closed"
    # Sent by `POST /v1/webhooks/endpoints/{id}/test`, whatever the endpoint's filter says.
    PING = "webhook.ping"


# Delays before attempts 2..10; attempt 1 goes at once.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
RETRY_JITTER = 0.1
# A `Retry-After` longer than this is capped: a receiver must not park a delivery for weeks.
MAX_RETRY_AFTER = timedelta(hours=24)
# One HTTP attempt: connect, send, read the status. The receiver should answer fast and work later.
ATTEMPT_TIMEOUT_SECONDS = 15.0
ATTEMPT_START_TO_CLOSE = timedelta(seconds=30)
STORE_START_TO_CLOSE = timedelta(seconds=15)
PUBLISH_START_TO_CLOSE = timedelta(seconds=30)


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    # A status or network error worth another attempt.
    RETRY = "retry"
    # 410 Gone: the receiver asks for the endpoint to be disabled.
    GONE = "gone"
    # The endpoint was disabled or deleted meanwhile, or its target is refused (SSRF): no more attempts.
    ABANDONED = "abandoned"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    ABANDONED = "abandoned"


class WebhookDeliveryInput(Frozen):
    tenant_id: str
    delivery_id: str
    # Ids only: the payload is read from the message row by each attempt (big data by reference).
    endpoint_id: str
    message_id: str


class WebhookDeliveryResult(Frozen):
    delivery_id: str
    status: DeliveryStatus
    attempts: int


class AttemptInput(Frozen):
    tenant_id: str
    delivery_id: str
    attempt: int = Field(ge=1)


class AttemptResult(Frozen):
    outcome: AttemptOutcome
    status_code: int | None = None
    # The receiver's `Retry-After`, in seconds, when it sent one.
    retry_after_seconds: float | None = None
    error: str | None = None


class FinishDeliveryInput(Frozen):
    tenant_id: str
    delivery_id: str
    status: DeliveryStatus
    attempts: int
    # Disable the endpoint too (it answered 410).
    disable_endpoint: bool = False


class PublishWebhookInput(Frozen):
    tenant_id: str
    event_type: WebhookEventType
    data: dict[str, Any]
    # Stable per event, so a retried publish creates no second message and no second delivery.
    idempotency_key: str
    occurred_at: datetime | None = None


class PublishWebhookResult(Frozen):
    message_id: str
    deliveries: int


def delivery_workflow_id(tenant_id: str, delivery_id: str) -> str:
    return f"{tenant_id}:webhook:{delivery_id}"


# An attempt activity reports HTTP failures as `AttemptOutcome.RETRY` itself; Temporal's retries only cover
# the activity failing around the request (database briefly down, worker lost), and stay short, because
# the delivery schedule is what spaces attempts out.
WEBHOOK_ACTIVITY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)
# Bookkeeping after the last attempt must happen: unlimited attempts with a capped backoff.
WEBHOOK_FINISH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)
