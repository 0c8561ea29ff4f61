"""`ReembedCollectionWorkflow` cancelled at each stage, on the session's Temporal with stand-in activities.

A cancel during the embedding waits for the attempt in flight, then marks the run cancelled, purges the new
slot and ends the run Canceled; one during the switch or the purge of the old slot is too late: the switch's
outcome stands, the purge is not interrupted and the run completes; a cancel that finds the switch done (the
database's answer) completes the run too.
"""

from __future__ import annotations

import asyncio
import uuid

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from contracts.knowledge_reembed import (
    PurgeInput,
    PurgeResult,
    ReembedCancelInput,
    ReembedCancelResult,
    ReembedFinishInput,
    ReembedInput,
    ReembedResult,
    ReembedStep,
    SwitchResult,
)
from contracts.names import (
    ACT_REEMBED_CANCEL,
    ACT_REEMBED_EMBED,
    ACT_REEMBED_FINISH,
    ACT_REEMBED_PURGE,
    ACT_REEMBED_SWITCH,
)
from core.settings import Settings
from db.codec import connect
from workflows.reembed_collection import ReembedCollectionWorkflow


class StandIns:
    """The re-embed's activities under their real names: each records its call; `hold` names the one that
    waits (heartbeating) until the test has sent the cancel."""

    def __init__(self, hold: str, *, switched_before_cancel: bool = False) -> None:
        self.hold = hold
        self.switched_before_cancel = switched_before_cancel
        self.calls: list[str] = []
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.interrupted: list[str] = []

    async def _maybe_hold(self, name: str) -> None:
        if name != self.hold or self.holding.is_set():
            return
        self.holding.set()
        try:
            while not self.release.is_set():
                activity.heartbeat()
                await asyncio.sleep(0.2)
            for _ in range(5):  # beats after the cancel: a shielded step hears nothing of it
                activity.heartbeat()
                await asyncio.sleep(0.3)
        except asyncio.CancelledError:
            self.interrupted.append(name)
            raise

    @activity.defn(name=ACT_REEMBED_EMBED)
    async def embed(self, inp: ReembedInput) -> ReembedStep:
        self.calls.append("embed")
        await self._maybe_hold("embed")
        return ReembedStep(embedded=32, remaining=0)

    @activity.defn(name=ACT_REEMBED_SWITCH)
    async def switch(self, inp: ReembedInput) -> SwitchResult:
        self.calls.append("switch")
        await self._maybe_hold("switch")
        return SwitchResult(switched=True)

    @activity.defn(name=ACT_REEMBED_PURGE)
    async def purge(self, inp: PurgeInput) -> PurgeResult:
        self.calls.append("purge new" if inp.new_generation else "purge old")
        await self._maybe_hold("purge")
        return PurgeResult(purged=32, remaining=0)

    @activity.defn(name=ACT_REEMBED_FINISH)
    async def finish(self, inp: ReembedFinishInput) -> None:
        self.calls.append(f"finish {inp.status}")

    @activity.defn(name=ACT_REEMBED_CANCEL)
    async def cancel(self, inp: ReembedCancelInput) -> ReembedCancelResult:
        self.calls.append("cancel")
        return ReembedCancelResult(cancelled=not self.switched_before_cancel)

    def all(self) -> list:
        return [self.embed, self.switch, self.purge, self.finish, self.cancel]


async def _cancelled_while(settings: Settings, acts: StandIns) -> tuple[ReembedResult | None, str]:
    """Runs the workflow, cancels it while `acts.hold` runs; (its result or None if it ended cancelled, status)."""
    client: Client = await connect(settings)
    queue = f"reembed-{uuid.uuid4().hex[:6]}"
    inp = ReembedInput(tenant_id="t", collection_id=str(uuid.uuid4()), reembed_id=str(uuid.uuid4()))
    async with Worker(client, task_queue=queue, workflows=[ReembedCollectionWorkflow], activities=acts.all()):
        handle = await client.start_workflow(
            ReembedCollectionWorkflow.run, inp, id=f"t:reembed:{inp.collection_id}", task_queue=queue
        )
        await asyncio.wait_for(acts.holding.wait(), timeout=30)
        await handle.cancel()
        await asyncio.sleep(0.5)  # the cancel reaches the workflow while the step still runs
        acts.release.set()
        try:
            result: ReembedResult | None = await handle.result()
        except WorkflowFailureError as exc:
            assert isinstance(exc.cause, CancelledError), exc.cause
            result = None
        status = (await handle.describe()).status
    return result, status.name if status else ""


async def test_a_cancel_during_the_embedding_purges_the_new_slot_and_ends_cancelled(migrated: Settings) -> None:
    acts = StandIns("embed")
    result, status = await _cancelled_while(migrated, acts)
    assert result is None and status == WorkflowExecutionStatus.CANCELED.name
    # The attempt in flight was waited for (cancelled at a heartbeat or finished), and nothing switched.
    assert acts.calls == ["embed", "cancel", "purge new"] and set(acts.interrupted) <= {"embed"}


async def test_a_cancel_during_the_switch_is_too_late(migrated: Settings) -> None:
    acts = StandIns("switch")
    result, status = await _cancelled_while(migrated, acts)
    assert result is not None and result.status == "completed" and status == WorkflowExecutionStatus.COMPLETED.name
    assert acts.calls == ["embed", "switch", "purge old", "finish completed"]


async def test_a_cancel_during_the_old_slots_purge_does_not_interrupt_it(migrated: Settings) -> None:
    acts = StandIns("purge")
    result, status = await _cancelled_while(migrated, acts)
    assert result is not None and result.status == "completed" and status == WorkflowExecutionStatus.COMPLETED.name
    assert acts.calls == ["embed", "switch", "purge old", "finish completed"] and acts.interrupted == []


async def test_a_cancel_that_finds_the_switch_done_completes_the_run(migrated: Settings) -> None:
    acts = StandIns("embed", switched_before_cancel=True)
    result, status = await _cancelled_while(migrated, acts)
    assert result is not None and result.status == "completed" and status == WorkflowExecutionStatus.COMPLETED.name
    assert acts.calls == ["embed", "cancel", "purge old", "finish completed"]
