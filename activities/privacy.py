"""The side effects of `ErasureWorkflow` and `RetentionWorkflow`, one idempotent activity per step.

They return ids and counts, never a customer's values: those stay in Postgres until erased.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from channels.store import prune_inbound
from contracts.conversation import conversation_workflow_id
from contracts.names import (
    ACT_ERASURE_DATABASE,
    ACT_ERASURE_REDIS,
    ACT_ERASURE_SIGN_REPORT,
    ACT_ERASURE_STOP_CONVERSATIONS,
    ACT_RETENTION_ENFORCE,
    ACT_RETENTION_LIST_TENANTS,
)
from contracts.privacy import (
    EnforceRetentionInput,
    EnforceRetentionResult,
    EraseDatabaseResult,
    EraseRedisInput,
    EraseRedisResult,
    ErasureStepInput,
    RetentionListInput,
    RetentionListResult,
    SignedReport,
    SignReportInput,
    StopConversationsResult,
)
from core.crypto.keyring import Keyring
from db.database import Database
from policies.erasure.plan import BY_TABLE
from policies.erasure.signing import ReportSigner, report_sha256
from policies.erasure.store import conversations_of, erase_customer, read_erasure, store_report
from policies.retention import Kind, database_kinds, delete_batch, load_retention, tables_of
from tenancy.audit import record_event_once
from tenancy.audit_reseal import ChainBroken, reseal_all
from tenancy.lifecycle import TenantStatus
from tenancy.tenant_admin import list_tenants

log = structlog.get_logger("aiaas.privacy")

ERASURES = Counter("aiaas_erasures_total", "Customer erasures completed", [])
RETAINED_DELETED = Counter("aiaas_retention_deleted_total", "Rows and stream entries past retention", ["kind"])
_SCAN_BATCH = 500
INBOUND_TABLE = "public.channel_inbound"
REPORT_VERSION = 1
ERASURE_ACTOR = "platform:erasure"


def _stream_patterns(tenant_id: str, conversation_id: str) -> str:
    # Every per-conversation key carries `{tenant:conversation}` as its hash tag (events, dedup marks).
    return f"aiaas:*{{{tenant_id}:{conversation_id}}}*"


class PrivacyActivities:
    def __init__(
        self, db: Database, redis: Redis, temporal: Client, keyring: Keyring, *,
        forget_documents: Callable[[AsyncSession, str, str], Awaitable[int]] | None = None,
    ) -> None:  # fmt: skip
        self._db = db
        # The knowledge store's purge of the customer's documents (a separate search index keeps chunks too);
        # given by the worker, which may import the knowledge layer this one may not.
        self._forget_documents = forget_documents
        self._redis = redis
        self._temporal = temporal
        self._signer = ReportSigner(keyring)

    def all(self) -> list[Any]:
        return [
            self.stop_conversations,
            self.erase_database,
            self.erase_redis,
            self.sign_report,
            self.retention_tenants,
            self.enforce_retention,
        ]

    # ---- erasure ----------------------------------------------------------------------------------------
    @activity.defn(name=ACT_ERASURE_STOP_CONVERSATIONS)
    async def stop_conversations(self, inp: ErasureStepInput) -> StopConversationsResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            conversations = await conversations_of(session, inp.customer_id)
        stopped = 0
        for conversation_id in conversations:
            handle = self._temporal.get_workflow_handle(conversation_workflow_id(inp.tenant_id, conversation_id))
            try:
                await handle.terminate(reason="customer erasure")
                stopped += 1
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # never started, or already closed: nothing to stop
                    raise
            activity.heartbeat(stopped)
        return StopConversationsResult(conversation_ids=conversations, stopped=stopped)

    @activity.defn(name=ACT_ERASURE_DATABASE)
    async def erase_database(self, inp: ErasureStepInput) -> EraseDatabaseResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            # Audit events from before sealing hold customer details in clear: re-anchored first, in this
            # transaction, so the plan's audit rule empties them like any sealed event.
            try:
                await reseal_all(session, inp.tenant_id, self._signer, actor=ERASURE_ACTOR)
            except ChainBroken as exc:
                # Re-hashing would hide the break, and erasing without it would leave the values: an operator's.
                raise ApplicationError(str(exc), type="AuditChainBroken", non_retryable=True) from exc
            rows, conversations, repeated = await erase_customer(
                session, inp.erasure_id, inp.customer_id, activity.heartbeat
            )
            if self._forget_documents is not None:
                # In the erasure's transaction, before it commits; a retried attempt (repeated) purges again.
                await self._forget_documents(session, inp.tenant_id, inp.customer_id)
        log.info("customer erased", tenant_id=inp.tenant_id, erasure_id=inp.erasure_id, rows=sum(rows.values()))
        return EraseDatabaseResult(rows=rows, conversation_ids=conversations, repeated=repeated)

    @activity.defn(name=ACT_ERASURE_REDIS)
    async def erase_redis(self, inp: EraseRedisInput) -> EraseRedisResult:
        deleted = 0
        for conversation_id in inp.conversation_ids:
            keys = [
                k
                async for k in self._redis.scan_iter(
                    match=_stream_patterns(inp.tenant_id, conversation_id), count=_SCAN_BATCH
                )
            ]
            if keys:
                deleted += int(await self._redis.unlink(*keys))
            activity.heartbeat(deleted)
        return EraseRedisResult(keys_deleted=deleted)

    @activity.defn(name=ACT_ERASURE_SIGN_REPORT)
    async def sign_report(self, inp: SignReportInput) -> SignedReport:
        async with self._db.tenant_session(inp.tenant_id) as session:
            erasure = await read_erasure(session, inp.erasure_id)
            if erasure.report is not None and erasure.key_id is not None:
                return SignedReport(key_id=erasure.key_id, report_sha256=report_sha256(erasure.report))
            key_id = await self._signer.key_id(session, inp.tenant_id)
            report = self._report(inp, erasure.created_at, erasure.erased_at, key_id)
            signature = await self._signer.sign(session, inp.tenant_id, report)
            await store_report(session, inp.erasure_id, report, signature, key_id)
            digest = report_sha256(report)
            # In the same transaction as the report: both or neither, and a retry records nothing twice.
            await record_event_once(
                session,
                idempotency_key=f"erasure:{inp.erasure_id}",
                tenant_id=inp.tenant_id,
                actor=inp.actor,
                action="customer.erased",
                target=inp.customer_id,
                details={"erasure_id": inp.erasure_id, "report_sha256": digest, "rows": sum(inp.rows.values())},
            )
        ERASURES.inc()
        return SignedReport(key_id=key_id, report_sha256=digest)

    @staticmethod
    def _report(inp: SignReportInput, requested: datetime, erased: datetime | None, key_id: str) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "erasure_id": inp.erasure_id,
            "tenant_id": inp.tenant_id,
            "customer_id": inp.customer_id,
            "requested_by": inp.actor,
            "requested_at": requested.isoformat(),
            "erased_at": erased.isoformat() if erased else None,
            "signed_at": datetime.now(UTC).isoformat(),
            "tables": {
                table: {"action": BY_TABLE[table].action.value, "rows": n} for table, n in sorted(inp.rows.items())
            },
            "redis_keys_deleted": inp.redis_keys,
            "conversations_stopped": inp.workflows_stopped,
            "kept": sorted(rule.table for rule in BY_TABLE.values() if rule.action.value == "keep"),
            "signed_with": key_id,
        }

    # ---- retention --------------------------------------------------------------------------------------
    @activity.defn(name=ACT_RETENTION_LIST_TENANTS)
    async def retention_tenants(self, inp: RetentionListInput) -> RetentionListResult:
        page = await list_tenants(self._db, status=TenantStatus.ACTIVE, cursor=inp.cursor, limit=inp.limit)
        return RetentionListResult(tenant_ids=[t.id for t in page.items], next_cursor=page.next_cursor)

    @activity.defn(name=ACT_RETENTION_ENFORCE)
    async def enforce_retention(self, inp: EnforceRetentionInput) -> EnforceRetentionResult:
        deleted: dict[str, int] = {}
        more: list[str] = []
        failed: list[str] = []
        for tenant_id in inp.tenant_ids:
            activity.heartbeat(tenant_id)
            try:
                tenant_more = await self._enforce_tenant(tenant_id, inp, deleted)
            except Exception:  # one tenant's trouble must not cost the page its retention
                log.exception("retention failed", tenant_id=tenant_id)
                failed.append(tenant_id)
                continue
            if tenant_more:
                more.append(tenant_id)
        return EnforceRetentionResult(deleted=deleted, more=more, failed=failed)

    async def _enforce_tenant(self, tenant_id: str, inp: EnforceRetentionInput, deleted: dict[str, int]) -> bool:
        """Delete what the tenant's policy no longer keeps, adding to `deleted`; True when more is left."""
        async with self._db.tenant_session(tenant_id) as session:
            policy = await load_retention(session, tenant_id)
        more = False
        for kind in database_kinds():
            days = policy.days(kind)
            if days is None:
                continue
            before = sum(deleted.get(t, 0) for t in tables_of(kind))
            for _ in range(inp.batches_per_call):
                # Each batch commits on its own: locks are held for one batch, and progress survives a crash.
                async with self._db.tenant_session(tenant_id) as session:
                    batch = await delete_batch(session, kind, days, inp.batch_size)
                for table, n in batch.items():
                    deleted[table] = deleted.get(table, 0) + n
                activity.heartbeat(tenant_id, kind.value)
                if max(batch.values()) < inp.batch_size:
                    break
            else:
                more = True
            RETAINED_DELETED.labels(kind=kind.value).inc(sum(deleted.get(t, 0) for t in tables_of(kind)) - before)
        if policy.events_days is not None:
            trimmed = await self._trim_events(tenant_id, policy.events_days)
            deleted["redis.events"] = deleted.get("redis.events", 0) + trimmed
            RETAINED_DELETED.labels(kind=Kind.EVENTS.value).inc(trimmed)
        return await self._prune_inbound(tenant_id, inp, deleted) or more

    async def _prune_inbound(self, tenant_id: str, inp: EnforceRetentionInput, deleted: dict[str, int]) -> bool:
        """The platform's own rule, whatever the tenant's policy: channel deduplication rows past the providers'
        longest retry window (`channels.store.INBOUND_KEEP_DAYS`). True when more is left."""
        for _ in range(inp.batches_per_call):
            async with self._db.tenant_session(tenant_id) as session:
                n = await prune_inbound(session, inp.batch_size)
            deleted[INBOUND_TABLE] = deleted.get(INBOUND_TABLE, 0) + n
            RETAINED_DELETED.labels(kind="channel_dedup").inc(n)
            if n < inp.batch_size:
                return False
        return True

    async def _trim_events(self, tenant_id: str, days: int) -> int:
        """Trim every conversation stream of the tenant to the entries of the last `days` days.

        Stream ids begin with their time in milliseconds, so `XTRIM MINID` drops exactly the older entries.
        """
        cutoff_ms = int(datetime.now(UTC).timestamp() * 1000) - days * 86_400_000
        trimmed = 0
        async for key in self._redis.scan_iter(match=f"aiaas:events:{{{tenant_id}:*", count=_SCAN_BATCH):
            trimmed += int(await self._redis.xtrim(key, minid=f"{cutoff_ms}-0", approximate=False))
            activity.heartbeat(trimmed)
        return trimmed
