"""`ErasureWorkflow`: forget one end customer of a tenant, and sign a report saying what was forgotten.

One run per erasure (id `"{tenant}:erasure:{erasure}"`, started by `POST /v1/customers/{id}/erasure`):
1. stop the customer's running conversations, so nothing writes new traces while the rest is erased;
2. erase them from Postgres in one transaction (`policies.erasure.plan`: transcripts, tool calls, approvals,
   tickets, leads, CRM contacts, webhook messages about them, linked documents deleted; orders, shipments and
   the customer row anonymised; the ledger keeps its amounts);
3. delete their conversations' Redis event streams;
4. sign the report with the tenant's key, store it and audit it.
Every step is idempotent (the database step records its outcome in the same transaction, the report step
finds its report), so a retry or a worker killed anywhere repeats nothing that matters. The history carries
ids and counts only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.names import (
        ACT_ERASURE_DATABASE,
        ACT_ERASURE_REDIS,
        ACT_ERASURE_SIGN_REPORT,
        ACT_ERASURE_STOP_CONVERSATIONS,
        WF_ERASURE,
    )
    from contracts.privacy import (
        ERASURE_DATABASE_TIMEOUT,
        ERASURE_HEARTBEAT,
        ERASURE_REDIS_TIMEOUT,
        ERASURE_REPORT_TIMEOUT,
        ERASURE_STOP_TIMEOUT,
        EraseDatabaseResult,
        EraseRedisInput,
        EraseRedisResult,
        ErasureInput,
        ErasureResult,
        ErasureStepInput,
        SignedReport,
        SignReportInput,
        StopConversationsResult,
    )
    from contracts.retry import ERASURE_RETRY

T = TypeVar("T")


@workflow.defn(name=WF_ERASURE)
class ErasureWorkflow:
    @workflow.run
    async def run(self, inp: ErasureInput) -> ErasureResult:
        step = ErasureStepInput(tenant_id=inp.tenant_id, erasure_id=inp.erasure_id, customer_id=inp.customer_id)
        workflow.set_current_details(f"**Erasure** `{inp.erasure_id}`: stopping conversations")
        stopped = await self._step(
            ACT_ERASURE_STOP_CONVERSATIONS, step, StopConversationsResult, ERASURE_STOP_TIMEOUT, heartbeat=True
        )
        workflow.set_current_details(f"**Erasure** `{inp.erasure_id}`: erasing from Postgres")
        erased = await self._step(
            ACT_ERASURE_DATABASE, step, EraseDatabaseResult, ERASURE_DATABASE_TIMEOUT, heartbeat=True
        )
        workflow.set_current_details(f"**Erasure** `{inp.erasure_id}`: erasing event streams")
        # The conversations the database step erased, which includes any started after the stop step.
        conversations = sorted(set(stopped.conversation_ids) | set(erased.conversation_ids))
        redis = await self._step(
            ACT_ERASURE_REDIS,
            EraseRedisInput(tenant_id=inp.tenant_id, conversation_ids=conversations),
            EraseRedisResult,
            ERASURE_REDIS_TIMEOUT,
        )
        report = await self._step(
            ACT_ERASURE_SIGN_REPORT,
            SignReportInput(
                tenant_id=inp.tenant_id,
                erasure_id=inp.erasure_id,
                customer_id=inp.customer_id,
                actor=inp.actor,
                rows=erased.rows,
                redis_keys=redis.keys_deleted,
                workflows_stopped=stopped.stopped,
            ),
            SignedReport,
            ERASURE_REPORT_TIMEOUT,
        )
        workflow.set_current_details(f"**Erasure** `{inp.erasure_id}`: completed, report {report.report_sha256[:12]}")
        return ErasureResult(
            erasure_id=inp.erasure_id,
            rows=erased.rows,
            redis_keys=redis.keys_deleted,
            workflows_stopped=stopped.stopped,
            report=report,
        )

    async def _step(
        self, activity: str, arg: object, result_type: type[T], start_to_close: timedelta, *, heartbeat: bool = False
    ) -> T:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=start_to_close,
            heartbeat_timeout=ERASURE_HEARTBEAT if heartbeat else None,
            retry_policy=ERASURE_RETRY,
        )
