"""Retention of the signup tables: sent mail and signups that made no tenant are deleted after
`signup_retention_days`, a created tenant's signup keeps only its digest, and newer rows stay; the daily
`RetentionWorkflow` applies it with the real activities on the time-skipping server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.privacy import PrivacyActivities
from activities.signup import SignupActivities
from contracts.names import WF_RETENTION
from contracts.privacy import RetentionInput, RetentionResult
from core.crypto.keyring import Keyring
from core.settings import Settings
from db.database import Database, run_sql
from tenancy.mail_delivery import DirectorySender
from tenancy.signup_retention import purge_signup_data
from workflows.retention import RetentionWorkflow


async def _seed(db: Database, days_ago: int) -> dict[str, str]:
    """One signup per status and one sent and one queued message, all `days_ago` old; their ids by name."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    ids = {name: uuid.uuid4().hex for name in ("created", "expired", "pending", "existing", "sent", "queued")}
    async with db.admin_session() as session:
        for status in ("created", "expired", "pending", "existing"):
            await run_sql(
                session,
                (
                    "INSERT INTO signups (id, email_digest, email, company, status, created_at, updated_at)"
                    " VALUES (:id, :d, :e, 'Acme', :s, :at, :at)"
                ),
                {"id": ids[status], "d": uuid.uuid4().hex, "e": f"{ids[status]}@example.com", "s": status, "at": at},
            )
        for status in ("sent", "queued"):
            await run_sql(
                session,
                (
                    "INSERT INTO mail_outbox (id, idempotency_key, recipient, subject, body, kind, status, created_at)"
                    " VALUES (:id, :id, 'a@example.com', 's', 'b', 'signup.verify', :s, :at)"
                ),
                {"id": ids[status], "s": "sent" if status == "sent" else "queued", "at": at},
            )
    return ids


async def _left(db: Database, ids: dict[str, str]) -> dict[str, tuple[str, str] | None]:
    out: dict[str, tuple[str, str] | None] = {}
    async with db.admin_session() as session:
        for name, row_id in ids.items():
            if name in ("sent", "queued"):
                row = (
                    await run_sql(session, "SELECT recipient, kind FROM mail_outbox WHERE id = :i", {"i": row_id})
                ).first()
            else:
                row = (
                    await run_sql(session, "SELECT email, company FROM signups WHERE id = :i", {"i": row_id})
                ).first()
            out[name] = (row[0], row[1]) if row else None
    return out


async def test_old_signup_data_goes_and_recent_data_stays(db: Database) -> None:
    old = await _seed(db, days_ago=31)
    recent = await _seed(db, days_ago=29)
    deleted, more = await purge_signup_data(db, days=30, batch=2)
    left = await _left(db, old)
    assert {k: v for k, v in left.items() if v is not None} == {"created": ("", "")}
    assert deleted["mail_outbox"] >= 2 and deleted["signups"] >= 3 and deleted["signups.redacted"] >= 1
    assert not more
    assert all(v is not None and v[0] for v in (await _left(db, recent)).values())
    # Run again: nothing of these is touched twice.
    await purge_signup_data(db, days=30, batch=2)
    assert await _left(db, old) == left


async def test_the_daily_retention_run_applies_the_signup_rule(
    skipping_env: WorkflowEnvironment, db: Database, redis: Redis, keyring: Keyring, migrated: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    settings = migrated.model_copy(update={"signup_retention_days": 10})
    old = await _seed(db, days_ago=11)
    queue = f"retention-{uuid.uuid4().hex[:8]}"
    privacy = PrivacyActivities(db, redis, skipping_env.client, keyring)
    signup = SignupActivities(
        db, redis, skipping_env.client, settings, task_queue=queue, sender=DirectorySender(tmp_path, sender="t@x.test")
    )
    async with Worker(
        skipping_env.client,
        task_queue=queue,
        workflows=[RetentionWorkflow],
        activities=[privacy.retention_tenants, privacy.enforce_retention, signup.retention],
    ):
        result = await skipping_env.client.execute_workflow(
            WF_RETENTION,
            RetentionInput(),
            id=f"platform:privacy:retention:test-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            result_type=RetentionResult,
        )
    assert "platform:signups" not in result.failed
    assert result.deleted["mail_outbox"] >= 2 and result.deleted["signups"] >= 3, result
    assert {k: v for k, v in (await _left(db, old)).items() if v is not None} == {"created": ("", "")}
