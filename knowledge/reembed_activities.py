"""The activities of `ReembedCollectionWorkflow`: embed with the new model, switch, purge, finish.

Each is idempotent, so a retry or a killed worker repeats nothing that matters:
  - embed picks only chunks still without a vector in the target slot and writes each batch as it goes, so a
    retry resumes after the last batch written; it heartbeats after every batch (and while waiting for the
    worker's embedding turn, shared with ingestion);
  - switch changes the collection's model and slot in one transaction, only when nothing is missing, and
    answers `switched` again when a retried attempt finds it done;
  - purge empties one slot in short batches, never the one the collection reads;
  - finish records the outcome once and announces it once; cancel does the same for a cancelled run, and
    announces again (deduplicated) when a retry finds it recorded, so a kill between the two loses nothing.

While a batch is embedded (the model runs in a thread, or waits on a hosted API) the activity keeps
heartbeating every `REEMBED_BEAT`, so the heartbeat timeout measures whether the worker lives, not how long a
batch takes. A cancel reaches a running embed through its heartbeat or, sooner, through the run's record
(`cancel_requested_at`), which every batch reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.events import EventType
from contracts.knowledge import EMBED_BATCH, KNOWLEDGE_STREAM
from contracts.knowledge_reembed import (
    PURGE_BATCH,
    REEMBED_BEAT,
    REEMBED_WINDOW,
    PurgeInput,
    PurgeResult,
    ReembedCancelInput,
    ReembedCancelResult,
    ReembedErrorType,
    ReembedFinishInput,
    ReembedInput,
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
)
from core.events import EventBus
from db.database import Database
from knowledge import reembeds
from knowledge.backends import store_for
from knowledge.embeddings import EmbedderUnavailable, embedder_for
from knowledge.ingest_activities import embedding_turn
from knowledge.metrics import CHUNKS_EMBEDDED
from knowledge.store import Purge, vector_literal

log = structlog.get_logger(__name__)


def _gone(reembed_id: str) -> ApplicationError:
    return ApplicationError(
        f"re-embed {reembed_id} or its collection no longer exists", type=ReembedErrorType.REEMBED_GONE,
        non_retryable=True,
    )  # fmt: skip


@asynccontextmanager
async def beating(details: dict[str, Any]) -> AsyncIterator[None]:
    """Heartbeats every `REEMBED_BEAT` while the block runs (the block must leave the event loop free)."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(REEMBED_BEAT.total_seconds())
            activity.heartbeat(details)

    ticker = asyncio.create_task(beat())
    try:
        yield
    finally:
        ticker.cancel()


class ReembedActivities:
    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def _load(self, tenant_id: str, reembed_id: str) -> reembeds.Reembed:
        async with self._db.tenant_session(tenant_id) as session:
            found = await reembeds.get(session, reembed_id)
        if found is None:
            raise _gone(reembed_id)
        return found

    @activity.defn(name=ACT_REEMBED_EMBED)
    async def embed(self, inp: ReembedInput) -> ReembedStep:
        r = await self._load(inp.tenant_id, inp.reembed_id)
        if r.status != ReembedStatus.RUNNING:
            raise _gone(inp.reembed_id)
        embedder = embedder_for(r.to_model)
        embedded = 0
        cancel_requested = r.cancel_requested_at is not None
        while embedded < REEMBED_WINDOW and not cancel_requested:
            async with self._db.tenant_session(inp.tenant_id) as session:
                batch = await reembeds.pending_chunks(session, r, EMBED_BATCH)
            if not batch:
                break
            turns = await embedding_turn({"embedded": embedded, "waiting": 1})
            try:
                async with beating({"embedded": embedded, "embedding": len(batch)}):
                    vectors = await embedder.embed([text for _d, _o, text in batch])
            except EmbedderUnavailable as exc:
                raise ApplicationError(str(exc), type="EmbedderUnavailable") from exc
            finally:
                turns.release()
            if any(len(v) != r.to_dim for v in vectors):
                raise ApplicationError(
                    f"{r.to_model} returned vectors of another dimension than {r.to_dim}",
                    type="EmbeddingDimensionMismatch", non_retryable=True,
                )  # fmt: skip
            rows = [(d, o, vector_literal(v)) for (d, o, _t), v in zip(batch, vectors, strict=True)]
            async with self._db.tenant_session(inp.tenant_id) as session:
                keys = await reembeds.write_vectors(session, r, rows)
                # A separate search index takes the new vectors before the record commits them.
                await store_for(self._db.tenant_session).mirror_vectors(session, inp.tenant_id, r.to_slot, keys)
            now = await self._load(inp.tenant_id, r.id)  # the collection gone raises here
            if len(keys) == 0 and now.status != ReembedStatus.RUNNING:
                # Finished elsewhere; else the batch's document was deleted.
                raise _gone(inp.reembed_id)
            cancel_requested = now.cancel_requested_at is not None
            embedded += len(batch)
            CHUNKS_EMBEDDED.inc(len(batch))
            activity.heartbeat({"embedded": embedded, "last": f"{batch[-1][0]}:{batch[-1][1]}"})
        async with self._db.tenant_session(inp.tenant_id) as session:
            done, missing = await reembeds.counts(session, r)
            await reembeds.set_progress(session, r.id, done)
        await self._publish(inp.tenant_id, r, EventType.REEMBED_PROGRESS, {"embedded": done, "remaining": missing})
        return ReembedStep(embedded=embedded, remaining=missing, cancel_requested=cancel_requested)

    @activity.defn(name=ACT_REEMBED_SWITCH)
    async def switch(self, inp: ReembedInput) -> SwitchResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            r, missing = await reembeds.switch(session, inp.reembed_id)
        if r is None:
            raise _gone(inp.reembed_id)
        if r.switched_at is None:
            return SwitchResult(switched=False, missing=missing, cancel_requested=r.cancel_requested_at is not None)
        log.info("knowledge.reembed_switched", collection_id=r.collection_id, model=r.to_model, dim=r.to_dim)
        return SwitchResult(switched=True)

    @activity.defn(name=ACT_REEMBED_PURGE)
    async def purge(self, inp: PurgeInput) -> PurgeResult:
        r = await self._load(inp.tenant_id, inp.reembed_id)
        slot = r.to_slot if inp.new_generation else 1 - r.to_slot
        purged = 0
        while True:
            async with self._db.tenant_session(inp.tenant_id) as session:
                n = await reembeds.purge_slot(session, r.collection_id, slot, PURGE_BATCH)
            purged += n
            activity.heartbeat({"purged": purged})
            if n < PURGE_BATCH:
                break
        # The record's slot is empty (in short batches above); the store forgets the slot as a whole, in its search
        # index too. A retried attempt purges again: nothing left is nothing deleted.
        async with self._db.tenant_session(inp.tenant_id) as session, beating({"purged": purged}):
            target = Purge(collection_id=r.collection_id, slot=slot)
            purged += await store_for(self._db.tenant_session).purge(inp.tenant_id, target, session=session)
        return PurgeResult(purged=purged, remaining=0)

    @activity.defn(name=ACT_REEMBED_CANCEL)
    async def cancel(self, inp: ReembedCancelInput) -> ReembedCancelResult:
        async with self._db.tenant_session(inp.tenant_id) as session:
            r = await reembeds.cancel(session, inp.reembed_id, inp.reason)
        if r is None:
            raise _gone(inp.reembed_id)
        if r.status != ReembedStatus.CANCELLED:
            # Switched before the cancel reached it (or finished otherwise): the run completes.
            return ReembedCancelResult(cancelled=False)
        log.info("knowledge.reembed_cancelled", collection_id=r.collection_id, reembed_id=r.id)
        data = {"model": r.from_model, "abandoned_model": r.to_model, "reason": r.reason}
        await self._publish(inp.tenant_id, r, EventType.REEMBED_CANCELLED, data, dedup=True)
        return ReembedCancelResult(cancelled=True)

    @activity.defn(name=ACT_REEMBED_FINISH)
    async def finish(self, inp: ReembedFinishInput) -> None:
        async with self._db.tenant_session(inp.tenant_id) as session:
            await reembeds.finish(session, inp.reembed_id, inp.status, inp.reason)
            r = await reembeds.get(session, inp.reembed_id)
        if r is None or r.status != inp.status:
            return
        # Announced by every attempt that finds the outcome recorded (deduplicated), so a worker killed between
        # the commit and the announcement loses nothing.
        if inp.status == ReembedStatus.COMPLETED:
            data: dict[str, Any] = {"model": r.to_model, "dimension": r.to_dim, "embedded": r.embedded}
            await self._publish(inp.tenant_id, r, EventType.REEMBED_COMPLETED, data, dedup=True)
        else:
            await self._publish(inp.tenant_id, r, EventType.REEMBED_FAILED, {"reason": inp.reason}, dedup=True)

    async def _publish(
        self, tenant_id: str, r: reembeds.Reembed, kind: EventType, data: dict[str, Any], *, dedup: bool = False
    ) -> None:
        payload = {"collection_id": r.collection_id, "reembed_id": r.id, **data}
        key = f"{r.id}:{kind}" if dedup else None
        try:
            await self._bus.publish(tenant_id, KNOWLEDGE_STREAM, kind, payload, dedup_key=key)
        except Exception:
            if dedup:  # an outcome must be announced: the activity is retried (the dedup key keeps it once)
                raise
            # progress is a courtesy: a Redis hiccup must not fail the re-embed
            log.warning("knowledge.event_publish_failed", event_type=str(kind), reembed_id=r.id)

    def all(self) -> list[Any]:
        return [self.embed, self.switch, self.purge, self.finish, self.cancel]
