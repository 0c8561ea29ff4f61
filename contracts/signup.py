"""Self-serve signup: the inputs and results of `SignupWorkflow`, its `verify` update and its activities.

A signup is one run, id `"signup:{email digest}"` (the digest is keyed, so the id names no address): it
mails a verification link, waits for the `verify` update until the link expires, then creates the tenant
on the trial plan with its owner key, starts its subscription and ends. The first key never enters the
history: the activity that creates it leaves it in Redis for the one verify response that shows it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field
from temporalio.common import RetryPolicy

from contracts.base import Frozen

SIGNUP_TTL = timedelta(hours=24)
SIGNUP_START_TO_CLOSE = timedelta(seconds=30)
MAIL_START_TO_CLOSE = timedelta(seconds=60)
SIGNUP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)
# Mail is given up after a day of failed tries: the link has expired by then anyway.
MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=40,
)
# The Redis key holding a signup's first API key until the verify response takes it (GETDEL).
FIRST_KEY_TTL = timedelta(minutes=15)


def signup_workflow_id(email_digest: str) -> str:
    return f"signup:{email_digest}"


def first_key_redis_key(signup_id: str) -> str:
    return f"aiaas:signup:first-key:{signup_id}"


class SignupOutcome(StrEnum):
    CREATED = "created"
    EXPIRED = "expired"
    # The address already owns a tenant: it got a notice instead of a link, and nothing was created.
    EXISTING = "existing"


class SignupInput(Frozen):
    signup_id: str = Field(min_length=1, max_length=80)
    company: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254)
    email_digest: str = Field(min_length=16, max_length=128)
    ttl_seconds: int = Field(default=int(SIGNUP_TTL.total_seconds()), ge=60, le=7 * 86400)
    trial_plan: str = "pro"
    trial_days: int = Field(default=14, ge=0, le=90)


class PrepareSignupInput(Frozen):
    signup_id: str
    email: str
    email_digest: str
    company: str
    nonce: str
    expires_at: datetime


class PrepareSignupResult(Frozen):
    # The outbox message queued (a verification link, or a notice that an account exists).
    message_id: str
    existing: bool


class SendMailInput(Frozen):
    message_id: str


def mail_workflow_id(message_id: str) -> str:
    """The id of the `MailWorkflow` that sends one outbox message: one run per message."""
    return f"mail:{message_id}"


class VerifyRequest(Frozen):
    nonce: str = Field(min_length=8, max_length=64)


class VerifyResult(Frozen):
    tenant_id: str


class CreateSignupTenantInput(Frozen):
    signup_id: str
    tenant_id: str
    company: str
    email_digest: str
    plan: str


class StartSignupSubscriptionInput(Frozen):
    tenant_id: str
    plan: str
    trial_days: int
    started_at: datetime


class FinishSignupInput(Frozen):
    signup_id: str
    outcome: SignupOutcome
    tenant_id: str | None = None


class SignupResult(Frozen):
    outcome: SignupOutcome
    tenant_id: str | None = None


class SignupRetentionInput(Frozen):
    # Rows per batch (each its own transaction); the days come from the worker's settings.
    batch_size: int = Field(default=500, ge=1, le=5000)


class SignupRetentionResult(Frozen):
    # Rows deleted per table, and "signups.redacted": signups of created tenants whose address was blanked.
    deleted: dict[str, int]
    # More was due than one call's batches took; the next daily run continues.
    more: bool = False
