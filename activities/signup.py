"""The activities of `SignupWorkflow` and the outbox's `mail.send`. Each is idempotent by its input.

- `signup.prepare` records the signup and queues its mail in the outbox: the signed verification link, or,
  when the address already owns a tenant, a notice saying so (the API answered the same either way).
- `mail.send` sends one outbox message (SMTP, or a file under the data dir) unless it was sent already.
- `signup.create_tenant` creates the tenant under the id the run drew, on the trial plan, with its owner key,
  and leaves the key in Redis for the one verify response that takes it: the key never enters history. A
  retry that finds the tenant made issues a fresh owner key only if the first never reached Redis.
- `signup.start_subscription` starts the tenant's `SubscriptionWorkflow` on a trial (a second start is the
  same subscription).
- `signup.finish` records the outcome.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from billing.starter import initial_state, start_subscription
from contracts.names import (
    ACT_MAIL_SEND,
    ACT_SIGNUP_CREATE_TENANT,
    ACT_SIGNUP_FINISH,
    ACT_SIGNUP_PREPARE,
    ACT_SIGNUP_RETENTION,
    ACT_SIGNUP_START_SUBSCRIPTION,
)
from contracts.signup import (
    FIRST_KEY_TTL,
    CreateSignupTenantInput,
    FinishSignupInput,
    PrepareSignupInput,
    PrepareSignupResult,
    SendMailInput,
    SignupRetentionInput,
    SignupRetentionResult,
    StartSignupSubscriptionInput,
    first_key_redis_key,
)
from core.settings import Settings
from db.database import Database
from tenancy import signup_store
from tenancy.api_keys import issue_key
from tenancy.audit import record_event
from tenancy.lifecycle import DEFAULT_DATA_REGION
from tenancy.mail_delivery import MailSender
from tenancy.permissions import TenantRole
from tenancy.signup_retention import purge_signup_data
from tenancy.signup_tokens import SignupToken, issue
from tenancy.tenant_admin import TenantNotFound, create_tenant, get_tenant
from tenancy.tenants import MAX_SLUG_CHARS, slugify

log = structlog.get_logger("aiaas.signup")
SIGNUPS = Counter("aiaas_signups_total", "Signup runs by outcome", ["outcome"])
MAIL = Counter("aiaas_mail_sent_total", "Outbox messages sent, by kind and result", ["kind", "result"])
ACTOR = "system:signup"


def verification_body(company: str, token: str, verify_url: str, ttl: timedelta) -> str:
    hours = max(1, int(ttl.total_seconds() // 3600))
    return (
        f"Someone asked to create an aiaas account for {company} with this address.\n\n"
        f"To confirm, send this token within {hours} hour(s):\n\n{token}\n\n"
        f"for example:\n  curl -X POST {verify_url} -H 'Content-Type: application/json'"
        f' -d \'{{"token": "{token}"}}\'\n\n'
        "The answer holds your first API key, shown only once. If you did not ask for this, ignore this mail.\n"
    )


NOTICE_BODY = (
    "Someone asked to create an aiaas account with this address, which already has one.\n\n"
    "Nothing was created. If it was you, sign in with your existing account's keys or ask its owner.\n"
)


class SignupActivities:
    def __init__(
        self, db: Database, redis: Redis, client: Client, settings: Settings, *, task_queue: str, sender: MailSender
    ) -> None:
        self._db, self._redis, self._client, self._settings = db, redis, client, settings
        self._task_queue, self._sender = task_queue, sender

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare, self.send_mail, self.create_tenant, self.start_subscription, self.finish, self.retention]

    @activity.defn(name=ACT_SIGNUP_RETENTION)
    async def retention(self, inp: SignupRetentionInput) -> SignupRetentionResult:
        """Delete sent mail and finished signups past `signup_retention_days` (`tenancy.signup_retention`)."""
        deleted, more = await purge_signup_data(
            self._db, days=self._settings.signup_retention_days, batch=inp.batch_size
        )
        return SignupRetentionResult(deleted=deleted, more=more)

    @activity.defn(name=ACT_SIGNUP_PREPARE)
    async def prepare(self, inp: PrepareSignupInput) -> PrepareSignupResult:
        await signup_store.record_signup(
            self._db, signup_id=inp.signup_id, email_digest=inp.email_digest, email=inp.email, company=inp.company
        )
        if await signup_store.has_tenant(self._db, inp.email_digest):
            message_id = await signup_store.enqueue(
                self._db,
                key=f"signup:{inp.signup_id}:notice",
                recipient=inp.email,
                subject="Your aiaas account already exists",
                body=NOTICE_BODY,
                kind="signup.existing",
            )
            return PrepareSignupResult(message_id=message_id, existing=True)
        token = issue(
            self._settings.signup_key(),
            SignupToken(email_digest=inp.email_digest, nonce=inp.nonce, expires_at=inp.expires_at),
        )
        ttl = inp.expires_at - activity.info().started_time
        message_id = await signup_store.enqueue(
            self._db,
            key=f"signup:{inp.signup_id}:verify",
            recipient=inp.email,
            subject=f"Confirm your aiaas account for {inp.company}",
            body=verification_body(inp.company, token, self._settings.signup_verify_url, ttl),
            kind="signup.verify",
        )
        return PrepareSignupResult(message_id=message_id, existing=False)

    @activity.defn(name=ACT_MAIL_SEND)
    async def send_mail(self, inp: SendMailInput) -> None:
        message = await signup_store.get_message(self._db, inp.message_id)
        if message is None:
            raise LookupError(f"no outbox message {inp.message_id}")
        if message.status == "sent":
            return
        try:
            await self._sender.send(message)
        except Exception as exc:
            MAIL.labels(message.kind, "error").inc()
            await signup_store.mark_attempt(self._db, message.id, sent=False, error=type(exc).__name__)
            raise
        await signup_store.mark_attempt(self._db, message.id, sent=True)
        MAIL.labels(message.kind, "sent").inc()
        log.info("mail.sent", message_id=message.id, kind=message.kind)

    @activity.defn(name=ACT_SIGNUP_CREATE_TENANT)
    async def create_tenant(self, inp: CreateSignupTenantInput) -> None:
        pepper = self._settings.api_key_pepper.get_secret_value()
        redis_key = first_key_redis_key(inp.email_digest)
        try:
            await get_tenant(self._db, inp.tenant_id)
        except TenantNotFound:
            base = slugify(inp.company)[: MAX_SLUG_CHARS - 9].strip("-") or "tenant"
            created = await create_tenant(
                self._db,
                name=inp.company,
                plan=inp.plan,
                data_region=DEFAULT_DATA_REGION,
                pepper=pepper,
                actor=ACTOR,
                tenant_id=inp.tenant_id,
                slug=f"{base}-{inp.tenant_id.replace('-', '')[:8]}",
            )
            async with self._db.tenant_session(inp.tenant_id) as session:
                await record_event(
                    session,
                    tenant_id=inp.tenant_id,
                    actor=ACTOR,
                    action="signup.completed",
                    target=inp.signup_id,
                    details={"plan": inp.plan, "email_digest": inp.email_digest},
                )
            key = created.api_key
        else:
            if await self._redis.exists(redis_key):
                return
            # An earlier attempt created the tenant but its key never reached Redis: issue the owner another.
            async with self._db.tenant_session(inp.tenant_id) as session:
                issued = await issue_key(
                    session, tenant_id=inp.tenant_id, name="owner", role=TenantRole.OWNER, pepper=pepper, actor=ACTOR
                )
            key = issued.key
        await self._redis.set(redis_key, key, ex=FIRST_KEY_TTL)

    @activity.defn(name=ACT_SIGNUP_START_SUBSCRIPTION)
    async def start_subscription(self, inp: StartSignupSubscriptionInput) -> None:
        state = initial_state(inp.tenant_id, inp.plan, now=inp.started_at, trial_days=inp.trial_days)
        # A retried start: the subscription the first attempt started is the tenant's one.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await start_subscription(self._client, self._task_queue, state)

    @activity.defn(name=ACT_SIGNUP_FINISH)
    async def finish(self, inp: FinishSignupInput) -> None:
        await signup_store.finish_signup(
            self._db, signup_id=inp.signup_id, status=inp.outcome.value, tenant_id=inp.tenant_id
        )
        SIGNUPS.labels(inp.outcome.value).inc()
        log.info("signup.finished", signup_id=inp.signup_id, outcome=inp.outcome.value, tenant_id=inp.tenant_id)
