"""Re-embedding contracts: what `ReembedCollectionWorkflow` and its activities exchange.

Only ids and counts travel; chunks and vectors stay in Postgres. Imports nothing with side effects (the
workflow sandbox loads it).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from temporalio.common import RetryPolicy

from contracts.base import Frozen

REEMBED_EMBED_TIMEOUT = timedelta(minutes=10)
# How long a re-embed activity may go silent before Temporal retries it elsewhere: it heartbeats every
# REEMBED_BEAT while a batch is embedded (the model runs off the event loop), so silence means a dead or frozen
# worker, never a slow batch. See docs/knowledge.md#heartbeats.
REEMBED_HEARTBEAT = timedelta(seconds=20)
REEMBED_BEAT = timedelta(seconds=5)
REEMBED_STEP_TIMEOUT = timedelta(minutes=2)
# Chunks one re-embed activity embeds before it reports back (progress in the history and on the stream).
REEMBED_WINDOW = 512
# Rows one purge statement empties: short transactions beside live ingestion and search.
PURGE_BATCH = 1000


class ReembedErrorType(StrEnum):
    # The collection (and with it the re-embed's record) was deleted meanwhile.
    REEMBED_GONE = "ReembedGone"


REEMBED_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=[str(t) for t in ReembedErrorType],
)
# Once the collection has switched, its old vectors must go whatever it takes: retried until done.
PURGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=[str(t) for t in ReembedErrorType],
)


class ReembedStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    # Stopped by an administrator before the switch: the partial new slot purged, the old model kept.
    CANCELLED = "cancelled"


class ReembedInput(Frozen):
    tenant_id: str
    collection_id: str
    reembed_id: str


class ReembedStep(Frozen):
    embedded: int
    remaining: int
    # The run's record says a cancel was requested: the window stopped early.
    cancel_requested: bool = False


class SwitchResult(Frozen):
    switched: bool
    # Chunks still without a new vector (documents ingested meanwhile): embedded before another try.
    missing: int = 0
    # Refused because a cancel was requested first (the database orders the two).
    cancel_requested: bool = False


class PurgeInput(Frozen):
    tenant_id: str
    collection_id: str
    reembed_id: str
    # True: the slot the re-embed was filling (it failed); False: the slot the collection read before.
    new_generation: bool


class PurgeResult(Frozen):
    purged: int
    remaining: int


class ReembedFinishInput(Frozen):
    tenant_id: str
    collection_id: str
    reembed_id: str
    status: ReembedStatus
    reason: str = ""


class ReembedCancelInput(Frozen):
    tenant_id: str
    collection_id: str
    reembed_id: str
    reason: str = ""


class ReembedCancelResult(Frozen):
    # False: the collection had switched already, so the run completes instead.
    cancelled: bool


class ReembedResult(Frozen):
    reembed_id: str
    status: str
    embedded: int = 0
    reason: str = ""
