"""`ReembedCollectionWorkflow`: a collection moved to another embedding model while it keeps serving.

One run per collection at a time (id `"{tenant}:reembed:{collection}"`; the API refuses a second with 409).
It embeds every chunk with the new model into the slot the collection does not read, in windows of batches
(each window one heartbeating activity that resumes where a killed attempt stopped), then switches the
collection to the new model and slot in one transaction. The switch happens only when no chunk lacks a new
vector: documents ingested meanwhile are embedded by another window first. After the switch the old vectors
are purged (retried until done). When embedding fails for good, the partial new generation is purged instead
and the collection keeps its old model. The history holds ids and counts only.

Cancelling (a Temporal cancellation the API sends, with `cancel_requested_at` recorded under the collection's
lock) stops the embedding: the activity in flight is waited for (it stops at its next batch or heartbeat), the
run is marked `cancelled` and announced once, and the partial new slot is purged; the workflow then ends
cancelled. A cancel that comes once the switch is done is too late: the switch and the database order the two,
and the run completes. Everything after the embedding phase (completing, failing, cancelling) runs shielded
from cancellation, so a cancel never leaves it half done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, is_cancelled_exception
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from contracts.knowledge_reembed import (
        PURGE_RETRY,
        REEMBED_EMBED_TIMEOUT,
        REEMBED_HEARTBEAT,
        REEMBED_RETRY,
        REEMBED_STEP_TIMEOUT,
        PurgeInput,
        PurgeResult,
        ReembedCancelInput,
        ReembedCancelResult,
        ReembedErrorType,
        ReembedFinishInput,
        ReembedInput,
        ReembedResult,
        ReembedStatus,
        ReembedStep,
        SwitchResult,
    )
    from contracts.names import (
        ACT_REEMBED_CANCEL,
        ACT_REEMBED_EMBED,
        ACT_REEMBED_FINISH,
        ACT_REEMBED_PURGE,
        ACT_REEMBED_SWITCH,
        WF_REEMBED_COLLECTION,
    )

Outcome = Literal["switched", "cancel", "failed", "deleted"]
# The activity in flight when a cancel comes is waited for, so none of its writes lands after the purge.
_WAIT = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


async def _shielded(work: Coroutine[Any, Any, ReembedResult]) -> ReembedResult:
    """Runs `work` to its end whatever cancellation the workflow receives meanwhile."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            continue


@workflow.defn(name=WF_REEMBED_COLLECTION)
class ReembedCollectionWorkflow:
    @workflow.init
    def __init__(self, inp: ReembedInput) -> None:
        self._progress: dict[str, object] = {"stage": "embedding", "embedded": 0, "remaining": None}
        self._embedded = 0
        self._reason = ""

    @workflow.run
    async def run(self, inp: ReembedInput) -> ReembedResult:
        outcome: Outcome
        try:
            outcome = await self._embed_and_switch(inp)
        except ActivityError as exc:
            outcome = self._outcome_of(exc)
        except asyncio.CancelledError:  # a cancel between activities: nothing is in flight
            outcome = "cancel"
        return await _shielded(self._conclude(inp, outcome))

    def _cancelling(self, recorded: bool = False) -> bool:
        # The database's flag counts too: the API records it only after Temporal accepted the cancel.
        return recorded or workflow.cancellation_reason() is not None

    async def _embed_and_switch(self, inp: ReembedInput) -> Outcome:
        while True:
            step = await workflow.execute_activity(
                ACT_REEMBED_EMBED, inp, result_type=ReembedStep,
                start_to_close_timeout=REEMBED_EMBED_TIMEOUT, heartbeat_timeout=REEMBED_HEARTBEAT,
                retry_policy=REEMBED_RETRY, cancellation_type=_WAIT, summary="embed with the new model",
            )  # fmt: skip
            self._embedded += step.embedded
            self._progress.update(embedded=self._embedded, remaining=step.remaining)
            if self._cancelling(step.cancel_requested):
                return "cancel"
            if step.remaining > 0:
                continue
            self._progress["stage"] = "switching"
            switched = await workflow.execute_activity(
                ACT_REEMBED_SWITCH, inp, result_type=SwitchResult,
                start_to_close_timeout=REEMBED_STEP_TIMEOUT, retry_policy=REEMBED_RETRY, cancellation_type=_WAIT,
                summary="switch",
            )  # fmt: skip
            if switched.switched:
                return "switched"  # a cancel arriving now is too late: the run completes
            if self._cancelling(switched.cancel_requested):
                return "cancel"
            # Documents ingested meanwhile still lack a new vector: embed them, then try again.
            self._progress.update(stage="embedding", remaining=switched.missing)

    def _outcome_of(self, exc: ActivityError) -> Outcome:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == ReembedErrorType.REEMBED_GONE:
            return "deleted"
        if is_cancelled_exception(exc) or self._cancelling():
            return "cancel"
        self._reason = f"re-embedding failed: {cause.message if isinstance(cause, ApplicationError) else exc}"
        return "failed"

    async def _conclude(self, inp: ReembedInput, outcome: Outcome) -> ReembedResult:
        embedded = self._embedded
        if outcome == "deleted":
            self._progress["stage"] = "deleted"
            return ReembedResult(reembed_id=inp.reembed_id, status="deleted", embedded=embedded)
        if outcome == "failed":
            # Recorded first, so no late write of an abandoned attempt lands after the purge.
            await self._finish(inp, ReembedStatus.FAILED, self._reason)
            await self._purge(inp, new_generation=True)
            return ReembedResult(reembed_id=inp.reembed_id, status="failed", embedded=embedded, reason=self._reason)
        cancelled = await self._cancel(inp) if outcome == "cancel" else "switched"
        if cancelled == "deleted":
            self._progress["stage"] = "deleted"
            return ReembedResult(reembed_id=inp.reembed_id, status="deleted", embedded=embedded)
        if cancelled == "cancelled":
            await self._purge(inp, new_generation=True)
            self._progress["stage"] = str(ReembedStatus.CANCELLED)
            if workflow.cancellation_reason() is not None:
                raise CancelledError("re-embed cancelled; the collection keeps its old model")
            return ReembedResult(reembed_id=inp.reembed_id, status="cancelled", embedded=embedded)
        # Switched (a cancel that found the switch done is refused by the database and completes the run too).
        await self._purge(inp, new_generation=False)
        await self._finish(inp, ReembedStatus.COMPLETED, "")
        return ReembedResult(reembed_id=inp.reembed_id, status="completed", embedded=embedded)

    async def _cancel(self, inp: ReembedInput) -> Literal["cancelled", "switched", "deleted"]:
        """Marks the run cancelled under the lock the switch takes; "switched" when the switch came first."""
        self._progress["stage"] = "cancelling"
        reason = workflow.cancellation_reason() or "cancelled by an administrator"
        target = ReembedCancelInput(
            tenant_id=inp.tenant_id, collection_id=inp.collection_id, reembed_id=inp.reembed_id, reason=reason
        )
        try:
            result = await workflow.execute_activity(
                ACT_REEMBED_CANCEL, target, result_type=ReembedCancelResult,
                start_to_close_timeout=REEMBED_STEP_TIMEOUT, retry_policy=PURGE_RETRY, summary="cancel",
            )  # fmt: skip
        except ActivityError as exc:
            cause = exc.cause
            if not (isinstance(cause, ApplicationError) and cause.type == ReembedErrorType.REEMBED_GONE):
                raise
            return "deleted"  # the collection was deleted: nothing left to purge or complete
        return "cancelled" if result.cancelled else "switched"

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
