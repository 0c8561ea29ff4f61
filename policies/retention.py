"""A tenant's retention policy, and deleting what it no longer keeps in bounded batches.

Four kinds, each kept for a number of days or (NULL) until deleted otherwise: `transcripts` (conversation
messages), `tool_results` (tool calls with their arguments and results, and approvals with theirs),
`documents` (knowledge documents with their originals and chunks) and `events` (the conversations' Redis
event streams, trimmed by `activities.privacy`). Deletion goes a batch at a time (`LIMIT`, each batch its own
statement), so a large backlog neither holds locks long nor blocks the turns writing beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql

MIN_DAYS = 1
MAX_DAYS = 3650


class Kind(StrEnum):
    TRANSCRIPTS = "transcripts"
    EVENTS = "events"
    TOOL_RESULTS = "tool_results"
    DOCUMENTS = "documents"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    transcripts_days: int | None = None
    events_days: int | None = None
    tool_results_days: int | None = None
    documents_days: int | None = None
    updated_at: datetime | None = None

    def days(self, kind: Kind) -> int | None:
        value: int | None = getattr(self, f"{kind.value}_days")
        return value


_COLUMNS = "transcripts_days, events_days, tool_results_days, documents_days, updated_at"


async def load_retention(session: AsyncSession, tenant_id: str) -> RetentionPolicy:
    row = (
        await run_sql(session, f"SELECT {_COLUMNS} FROM retention_policies WHERE tenant_id = :t", {"t": tenant_id})  # noqa: S608
    ).first()
    return RetentionPolicy() if row is None else RetentionPolicy(**dict(row._mapping))


async def save_retention(session: AsyncSession, tenant_id: str, policy: RetentionPolicy) -> RetentionPolicy:
    row = (
        await run_sql(
            session,
            "INSERT INTO retention_policies (tenant_id, transcripts_days, events_days, tool_results_days, "
            "documents_days) VALUES (:t, :tr, :ev, :tool, :doc) ON CONFLICT (tenant_id) DO UPDATE SET "
            "transcripts_days = EXCLUDED.transcripts_days, events_days = EXCLUDED.events_days, "
            "tool_results_days = EXCLUDED.tool_results_days, documents_days = EXCLUDED.documents_days, "
            "updated_at = now() RETURNING transcripts_days, events_days, tool_results_days, documents_days, "
            "updated_at",
            {
                "t": tenant_id,
                "tr": policy.transcripts_days,
                "ev": policy.events_days,
                "tool": policy.tool_results_days,
                "doc": policy.documents_days,
            },
        )
    ).one()
    return RetentionPolicy(**dict(row._mapping))


# One batch per statement: the oldest rows past the limit, at most :n of them. The tables' own time columns
# decide (a message's `created_at`, a tool call's `updated_at`, which is when its result was written).
_BATCHES: dict[Kind, tuple[tuple[str, str], ...]] = {
    Kind.TRANSCRIPTS: (
        (
            "public.messages",
            "DELETE FROM messages WHERE ctid = ANY(ARRAY(SELECT ctid FROM messages "
            "WHERE created_at < now() - make_interval(days => :days) LIMIT :n))",
        ),
        # The drift analysis's per-turn facts of a day (`policies.drift.days`) go with the day's questions.
        (
            "public.drift_day_facts",
            "DELETE FROM drift_day_facts WHERE ctid = ANY(ARRAY(SELECT ctid FROM drift_day_facts "
            "WHERE day < CAST((now() - make_interval(days => :days)) AT TIME ZONE 'UTC' AS date) LIMIT :n))",
        ),
    ),
    Kind.TOOL_RESULTS: (
        (
            "public.tool_calls",
            "DELETE FROM tool_calls WHERE ctid = ANY(ARRAY(SELECT ctid FROM tool_calls "
            "WHERE updated_at < now() - make_interval(days => :days) LIMIT :n))",
        ),
        (
            "public.approvals",
            "DELETE FROM approvals WHERE ctid = ANY(ARRAY(SELECT ctid FROM approvals "
            "WHERE status <> 'pending' AND requested_at < now() - make_interval(days => :days) LIMIT :n))",
        ),
    ),
    Kind.DOCUMENTS: (
        (
            "public.knowledge_documents",
            # Sources and chunks go with their document (ON DELETE CASCADE).
            "DELETE FROM knowledge_documents WHERE ctid = ANY(ARRAY(SELECT ctid FROM knowledge_documents "
            "WHERE created_at < now() - make_interval(days => :days) LIMIT :n))",
        ),
    ),
}


def database_kinds() -> tuple[Kind, ...]:
    return tuple(_BATCHES)


def tables_of(kind: Kind) -> tuple[str, ...]:
    return tuple(table for table, _ in _BATCHES[kind])


async def delete_batch(session: AsyncSession, kind: Kind, days: int, limit: int) -> dict[str, int]:
    """One batch of each of the kind's tables in the session's transaction; rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, sql in _BATCHES[kind]:
        result = await run_sql(session, sql, {"days": days, "n": limit})
        deleted[table] = int(getattr(result, "rowcount", 0) or 0)
    return deleted
