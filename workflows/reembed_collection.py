"""`ReembedCollectionWorkflow`: a collection moved to another embedding model while it keeps serving.

One run per collection at a time (id `"{tenant}:reembed:{collection}"`; the API refuses a second with 409).
It embeds every chunk with the new model into the slot the collection does not read, in windows of batches
(each window one heartbeating activity that resumes where a killed attempt stopped), then switches the
collection to the new model and slot in one transaction. The switch happens only when no chunk lacks a new
vector: documents ingested meanwhile are embedded by another window first. After the switch the old vectors
are purged (retried until done). When embedding fails for good, the partial new generation is purged instead
and the collection keeps its old model. The history holds ids and counts only.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from contracts.knowledge_reembed import (
        PURGE_RETRY,
        REEMBED_EMBED_TIMEOUT,
        REEMBED_HEARTBEAT,
        REEMBED_RETRY,
        REEMBED_STEP_TIMEOUT,
        PurgeInput,
        PurgeResult,
        ReembedErrorType,
        ReembedFinishInput,
        ReembedInput,
        ReembedResult,
        ReembedStatus,
        ReembedStep,
        SwitchResult,
    )
    from contracts.names import (
        ACT_REEMBED_EMBED,
        ACT_REEMBED_FINISH,
        ACT_REEMBED_PURGE,
        ACT_REEMBED_SWITCH,
        WF_REEMBED_COLLECTION,
    )


@workflow.defn(name=WF_REEMBED_COLLECTION)
class ReembedCollectionWorkflow:
    @workflow.init
    def __init__(self, inp: ReembedInput) -> None:
        self._progress: dict[str, object] = {"stage": "embedding", "embedded": 0, "remaining": None}

    @workflow.run
    async def run(self, inp: ReembedInput) -> ReembedResult:
        embedded = 0
        try:
            while True:
                step = await workflow.execute_activity(
                    ACT_REEMBED_EMBED, inp, result_type=ReembedStep,
                    start_to_close_timeout=REEMBED_EMBED_TIMEOUT, heartbeat_timeout=REEMBED_HEARTBEAT,
                    retry_policy=REEMBED_RETRY, summary="embed with the new model",
                )  # fmt: skip
                embedded += step.embedded
                self._progress.update(embedded=embedded, remaining=step.remaining)
                if step.remaining > 0:
                    continue
                self._progress["stage"] = "switching"
                switched = await workflow.execute_activity(
                    ACT_REEMBED_SWITCH, inp, result_type=SwitchResult,
                    start_to_close_timeout=REEMBED_STEP_TIMEOUT, retry_policy=REEMBED_RETRY, summary="switch",
                )  # fmt: skip
                if switched.switched:
                    break
                # Documents ingested meanwhile still lack a new vector: embed them, then try again.
                self._progress.update(stage="embedding", remaining=switched.missing)
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == ReembedErrorType.REEMBED_GONE:
                self._progress["stage"] = "deleted"
                return ReembedResult(reembed_id=inp.reembed_id, status="deleted", embedded=embedded)
            reason = f"re-embedding failed: {cause.message if isinstance(cause, ApplicationError) else exc}"
            # Recorded first, so no late write of an abandoned attempt lands after the purge.
            await self._finish(inp, ReembedStatus.FAILED, reason)
            await self._purge(inp, new_generation=True)
            return ReembedResult(reembed_id=inp.reembed_id, status="failed", embedded=embedded, reason=reason)
        await self._purge(inp, new_generation=False)
        await self._finish(inp, ReembedStatus.COMPLETED, "")
        return ReembedResult(reembed_id=inp.reembed_id, status="completed", embedded=embedded)

    async def _purge(self, inp: ReembedInput, *, new_generation: bool) -> None:
        self._progress["stage"] = "purging"
        summary = "purge the new vectors" if new_generation else "purge the old vectors"
        target = PurgeInput(
            tenant_id=inp.tenant_id, collection_id=inp.collection_id, reembed_id=inp.reembed_id,
            new_generation=new_generation,
        )  # fmt: skip
        try:
            await workflow.execute_activity(
                ACT_REEMBED_PURGE, target, result_type=PurgeResult,
                start_to_close_timeout=REEMBED_EMBED_TIMEOUT, heartbeat_timeout=REEMBED_HEARTBEAT,
                retry_policy=PURGE_RETRY, summary=summary,
            )  # fmt: skip
        except ActivityError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == ReembedErrorType.REEMBED_GONE):
                raise
            # The collection was deleted: its chunks went with it.

    async def _finish(self, inp: ReembedInput, status: ReembedStatus, reason: str) -> None:
        self._progress["stage"] = str(status)
        try:
            await workflow.execute_activity(
                ACT_REEMBED_FINISH,
                ReembedFinishInput(
                    tenant_id=inp.tenant_id, collection_id=inp.collection_id, reembed_id=inp.reembed_id,
                    status=status, reason=reason,
                ),
                start_to_close_timeout=REEMBED_STEP_TIMEOUT, retry_policy=REEMBED_RETRY, summary=str(status),
            )  # fmt: skip
        except ActivityError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == ReembedErrorType.REEMBED_GONE):
                raise

    @workflow.query(name="progress")
    def progress(self) -> dict[str, object]:
        return dict(self._progress)
