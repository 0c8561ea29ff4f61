"""Activities of `KeyRotationWorkflow`: read or add the tenant's data key version, re-encrypt, retire.

Each is idempotent. `rotate` adds a version only when the active one is still the one the run started from,
so a retried attempt after a lost reply adds no second version. `reseal` works in committed batches for one
slice of time, heartbeating its running count; the rows' `key_version` is the only progress record, so a
worker killed mid-slice loses at most one uncommitted batch. `retire` checks nothing is left below the target
before it retires anything, and audits once per target version. With an audit signer, `reseal` also
re-anchors audit events from before sealing, a batch per pass (`tenancy.audit_reseal`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agents.resealing import hash_customer_emails, remaining, reseal_messages, reseal_records, reseal_tool_calls
from contracts.key_rotation import (
    ROTATION_SLICE,
    KeyVersion,
    ResealInput,
    ResealResult,
    RetireInput,
    RetireResult,
    RotateKeyInput,
)
from contracts.names import ACT_KEYS_ACTIVE, ACT_KEYS_RESEAL, ACT_KEYS_RETIRE, ACT_KEYS_ROTATE
from core.crypto.fields import FieldSealer, retire_versions_below
from db.database import Database
from tenancy.audit import record_event_once
from tenancy.audit_reseal import ChainBroken, StatementSigner, reseal_batch

log = structlog.get_logger("aiaas.keys")
ROTATION_ACTOR = "workflow:key-rotation"
RESEALED = Counter("aiaas_fields_resealed_total", "Rows re-encrypted by key rotation", ["table"])


class KeyRotationActivities:
    def __init__(
        self,
        db: Database,
        *,
        slice_seconds: float = ROTATION_SLICE.total_seconds(),
        audit_signer: StatementSigner | None = None,
    ) -> None:
        self._db = db
        self._slice = slice_seconds
        # Signs the re-anchors of audit events from before sealing (`tenancy.audit_reseal`); None: not resealed.
        self._audit_signer = audit_signer

    @activity.defn(name=ACT_KEYS_ACTIVE)
    async def active(self, tenant_id: str) -> KeyVersion:
        async with self._db.tenant_session(tenant_id) as session:
            return KeyVersion(version=await FieldSealer(session, tenant_id).active_version())

    @activity.defn(name=ACT_KEYS_ROTATE)
    async def rotate(self, inp: RotateKeyInput) -> KeyVersion:
        async with self._db.tenant_session(inp.tenant_id) as session:
            sealer = FieldSealer(session, inp.tenant_id)
            current = await sealer.active_version()
            if current > inp.above_version:
                return KeyVersion(version=current)
        # Its own transaction: the new version is committed before any row is sealed under it.
        async with self._db.tenant_session(inp.tenant_id) as session:
            version = await FieldSealer(session, inp.tenant_id).rotate()
        log.info("data key version added for rotation", tenant_id=inp.tenant_id, version=version)
        return KeyVersion(version=version)

    @activity.defn(name=ACT_KEYS_RESEAL)
    async def reseal(self, inp: ResealInput) -> ResealResult:
        deadline = time.monotonic() + self._slice
        # A retried attempt goes on counting from the last heartbeat of the one that died.
        details = activity.info().heartbeat_details
        messages, calls = (int(details[0]), int(details[1])) if len(details) >= 2 else (0, 0)
        while True:
            async with self._db.tenant_session(inp.tenant_id) as session:
                batch_messages = await reseal_messages(
                    session, inp.tenant_id, target=inp.target_version, limit=inp.batch_size
                )
                batch_calls = await reseal_tool_calls(
                    session, inp.tenant_id, target=inp.target_version, limit=inp.batch_size
                )
                hashed = await hash_customer_emails(session, inp.tenant_id, limit=inp.batch_size)
                records = await reseal_records(session, inp.tenant_id, target=inp.target_version, limit=inp.batch_size)
            audit = await self._reseal_audit(inp)
            messages += batch_messages
            calls += batch_calls
            RESEALED.labels(table="messages").inc(batch_messages)
            RESEALED.labels(table="tool_calls").inc(batch_calls)
            RESEALED.labels(table="records").inc(records)
            activity.heartbeat(messages, calls)
            RESEALED.labels(table="audit_events").inc(audit)
            if max(batch_messages, batch_calls, hashed, records, audit) < inp.batch_size:
                return ResealResult(messages=messages, tool_calls=calls, done=True)
            if time.monotonic() >= deadline:
                return ResealResult(messages=messages, tool_calls=calls, done=False)

    async def _reseal_audit(self, inp: ResealInput) -> int:
        """One batch of audit events still holding customer details in clear, re-anchored in its own
        transaction (it holds the chain's append lock); how many were sealed."""
        if self._audit_signer is None:
            return 0
        try:
            async with self._db.tenant_session(inp.tenant_id) as session:
                done = await reseal_batch(
                    session, inp.tenant_id, self._audit_signer, actor=ROTATION_ACTOR, limit=inp.batch_size
                )
        except ChainBroken as exc:
            # Left as it is, for `GET /v1/audit/verify` to report; the rotation's own work goes on.
            log.warning("audit chain not re-anchored", tenant_id=inp.tenant_id, reason=str(exc))
            return 0
        return done.resealed if done is not None else 0

    @activity.defn(name=ACT_KEYS_RETIRE)
    async def retire(self, inp: RetireInput) -> RetireResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            left = await remaining(session, target=inp.target_version)
            if left:
                # Rows locked by a writer during the last pass: the workflow re-encrypts them and asks again.
                raise ApplicationError(
                    f"{left} rows are still below version {inp.target_version}", type="RowsLeft", non_retryable=True
                )
            retired = await retire_versions_below(session, inp.tenant_id, inp.target_version)
            await record_event_once(
                session,
                idempotency_key=f"keys.rotated:{inp.target_version}",
                tenant_id=inp.tenant_id,
                actor=inp.actor,
                action="keys.rotated",
                target=str(inp.target_version),
                details={
                    "workflow_id": inp.workflow_id,
                    "retired_versions": retired,
                    "messages": inp.messages,
                    "tool_calls": inp.tool_calls,
                },
            )
        return RetireResult(retired_versions=retired)

    def all(self) -> list[Callable[..., Any]]:
        return [self.active, self.rotate, self.reseal, self.retire]
