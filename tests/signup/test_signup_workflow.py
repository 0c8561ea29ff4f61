"""`SignupWorkflow` on the time-skipping server with the real activities, Postgres and Redis: the mail with its
signed link, the `verify` update (another run's nonce refused, a second use refused), the tenant on the trial
plan with its owner key handed over through Redis only, its trial subscription, the audit trail; an address
that owns a tenant gets a notice and nothing is created; an unverified signup expires."""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.billing import BillingActivities
from activities.signup import SignupActivities
from activities.webhooks import WebhookActivities
from billing.payments import SandboxProcessor
from contracts.billing import SubscriptionState, SubscriptionStatus, subscription_workflow_id
from contracts.signup import (
    SignupInput,
    SignupOutcome,
    SignupResult,
    VerifyRequest,
    VerifyResult,
    first_key_redis_key,
    signup_workflow_id,
)
from core.crypto.keyring import Keyring
from core.settings import Settings
from db.database import Database
from tenancy.mail_delivery import DirectorySender
from tenancy.signup_tokens import email_digest, verify
from workflows.signup import SignupWorkflow
from workflows.subscription import SubscriptionWorkflow

HISTORY = Path(__file__).parents[1] / "workflows" / "histories" / "signup_verified.json"
TOKEN = re.compile(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


@asynccontextmanager
async def signup_worker(
    env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, settings: Settings, mail: Path, queue: str
) -> AsyncIterator[None]:
    hooks = WebhookActivities(
        db, env.client, task_queue=queue, keyring=keyring, allow_private_targets=True, search_attributes=False
    )
    signup = SignupActivities(
        db, redis, env.client, settings, task_queue=queue, sender=DirectorySender(mail, sender="t@x.test")
    )
    try:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[SignupWorkflow, SubscriptionWorkflow],
            activities=[*signup.all(), *BillingActivities(db, redis, SandboxProcessor(db)).all(), hooks.publish],
            max_cached_workflows=0,
        ):
            yield
    finally:
        await hooks.close()


def _input(settings: Settings, email: str, *, ttl: int = 86400) -> SignupInput:
    return SignupInput(
        signup_id=str(uuid.uuid4()),
        company=f"Acme {uuid.uuid4().hex[:6]}",
        email=email,
        email_digest=email_digest(settings.signup_key(), email),
        ttl_seconds=ttl,
    )


async def _start(env: WorkflowEnvironment, inp: SignupInput, queue: str) -> WorkflowHandle:
    return await env.client.start_workflow(
        SignupWorkflow.run, inp, id=signup_workflow_id(inp.email_digest), task_queue=queue, result_type=SignupResult
    )


def _find_mail(mail: Path, email: str, kind: str) -> str | None:
    for path in mail.glob("*.eml") if mail.is_dir() else []:
        parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
        if parsed["To"] == email and parsed["X-Aiaas-Kind"] == kind:
            return str(parsed.get_body().get_content())  # type: ignore[union-attr]
    return None


async def _mail_to(mail: Path, email: str, kind: str) -> str:
    for _ in range(200):
        found = _find_mail(mail, email, kind)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} mail to {email}")


async def _one(db: Database, sql: str, **params: object) -> tuple:
    async with db.admin_session() as session:
        return tuple((await session.execute(text(sql), params)).one())


async def test_verified_signup_creates_a_trial_tenant_once(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, migrated: Settings, tmp_path: Path
) -> None:
    env, queue, mail = skipping_env, f"signup-{uuid.uuid4().hex[:6]}", tmp_path / "mail"
    email = f"owner.{uuid.uuid4().hex[:8]}@example.com"
    inp = _input(migrated, email)
    async with signup_worker(env, db, redis, keyring, migrated, mail, queue):
        handle = await _start(env, inp, queue)
        token = verify(migrated.signup_key(), TOKEN.findall(await _mail_to(mail, email, "signup.verify"))[0])
        assert token.email_digest == inp.email_digest

        with pytest.raises(WorkflowUpdateFailedError) as foreign:
            await handle.execute_update("verify", VerifyRequest(nonce="f" * 32), result_type=VerifyResult)
        assert "does not belong" in str(foreign.value.cause)
        verified = await handle.execute_update("verify", VerifyRequest(nonce=token.nonce), result_type=VerifyResult)
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update("verify", VerifyRequest(nonce=token.nonce), result_type=VerifyResult)
        assert "used already" in str(again.value.cause)
        result = await handle.result()
        assert result == SignupResult(outcome=SignupOutcome.CREATED, tenant_id=verified.tenant_id)
        tenant_id = verified.tenant_id

        subscription = env.client.get_workflow_handle(subscription_workflow_id(tenant_id))
        sub = await subscription.query("state", result_type=SubscriptionState)
        assert (sub.status, sub.plan, sub.trial_end is not None) == (SubscriptionStatus.TRIALING, "pro", True)
        await subscription.terminate("test over")
        if os.environ.get("AIAAS_RECORD_SIGNUP_HISTORY"):
            history = await handle.fetch_history()
            HISTORY.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")

    key = await redis.getdel(first_key_redis_key(inp.email_digest))
    assert key is not None and key.decode().startswith("ak_"), "the first key waits in Redis, once"
    history_text = (await handle.fetch_history()).to_json()
    assert key.decode() not in history_text, "the key never enters the history"
    async with db.tenant_session(tenant_id) as session:
        tenant = (
            await session.execute(text("SELECT status, plan, name FROM tenants WHERE id = :t"), {"t": tenant_id})
        ).one()
        actions = {r[0]: r[1] for r in await session.execute(
            text("SELECT action, actor FROM audit.events WHERE tenant_id = :t"), {"t": tenant_id}
        )}  # fmt: skip
    assert tuple(tenant) == ("active", "pro", inp.company)
    assert actions["tenant.created"] == "system:signup" and actions["signup.completed"] == "system:signup"
    assert await _one(db, "SELECT status, created_tenant_id FROM signups WHERE id = :i", i=inp.signup_id) == (
        "created",
        tenant_id,
    )
    sent = await _one(db, "SELECT status, body FROM mail_outbox WHERE recipient = :r", r=email)
    assert sent == ("sent", ""), "a sent message keeps no live link"


async def test_existing_address_gets_a_notice_and_an_unverified_signup_expires(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, migrated: Settings, tmp_path: Path
) -> None:
    env, queue, mail = skipping_env, f"signup-{uuid.uuid4().hex[:6]}", tmp_path / "mail"
    owner = f"owner.{uuid.uuid4().hex[:8]}@example.com"
    first = _input(migrated, owner)
    async with db.admin_session() as session:  # as a completed signup leaves it
        await session.execute(
            text("INSERT INTO signups (id, email_digest, email, company, status) VALUES (:i, :d, :e, 'x', 'created')"),
            {"i": first.signup_id, "d": first.email_digest, "e": owner},
        )
    async with signup_worker(env, db, redis, keyring, migrated, mail, queue):
        again = await _start(env, _input(migrated, owner), queue)
        assert (await again.result()).outcome == SignupOutcome.EXISTING
        notice = await _mail_to(mail, owner, "signup.existing")
        assert not TOKEN.search(notice), "the notice holds no link"

        idle = _input(migrated, f"idle.{uuid.uuid4().hex[:8]}@example.com", ttl=3600)
        handle = await _start(env, idle, queue)
        token = verify(migrated.signup_key(), TOKEN.findall(await _mail_to(mail, idle.email, "signup.verify"))[0])
        assert await handle.result() == SignupResult(outcome=SignupOutcome.EXPIRED)
        with pytest.raises(Exception, match=r"completed|not found"):
            await handle.execute_update("verify", VerifyRequest(nonce=token.nonce), result_type=VerifyResult)
    assert await redis.get(first_key_redis_key(idle.email_digest)) is None
    assert (await _one(db, "SELECT status FROM signups WHERE id = :i", i=idle.signup_id)) == ("expired",)
