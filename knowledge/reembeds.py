"""The re-embeds of collections: rows of `knowledge_reembeds` (row-level security applies) and the SQL that
moves a collection from one model to another.

A chunk has two vector slots; a collection reads one (`embedding_slot`). A re-embed writes the new model's
vectors into the other slot while searches keep reading the old one, then `switch` changes the collection's
model, dimension and slot in one UPDATE of its row, and only when no chunk of it lacks a new vector (under an
exclusive lock of that row, which ingestion's chunk writes share, so a document parsed meanwhile is either
counted or written after the switch). The old slot is emptied afterwards in short batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from db.database import run_sql
from db.ids import new_id
from knowledge.store import slot_columns

_REEMBED = (
    "id, collection_id, from_model, from_dim, to_model, to_dim, to_slot, status, embedded, reason, created_at,"
    " switched_at, finished_at, cancel_requested_at"
)


@dataclass(frozen=True)
class Reembed:
    id: str
    collection_id: str
    from_model: str
    from_dim: int
    to_model: str
    to_dim: int
    to_slot: int
    status: str
    embedded: int
    reason: str
    created_at: datetime
    switched_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None


def _reembed(row: Any) -> Reembed:
    return Reembed(**row._mapping)


async def create(session: AsyncSession, tenant_id: str, collection_id: str, *, model: str, dim: int) -> Reembed | None:
    """The new running re-embed, or None when one is already running for the collection (its unique index).

    Runs in the caller's transaction after it has read the collection; the collection row is locked so the
    recorded `from_model` and target slot are the collection's at this moment."""
    found = (
        await run_sql(
            session,
            "SELECT embedding_model, embedding_dim, embedding_slot FROM knowledge_collections WHERE id = :c FOR UPDATE",
            {"c": collection_id},
        )
    ).first()
    if found is None:
        return None
    try:
        async with session.begin_nested():
            row = (
                await run_sql(
                    session,
                    f"INSERT INTO knowledge_reembeds (tenant_id, id, collection_id, from_model, from_dim, to_model,"  # noqa: S608
                    f" to_dim, to_slot) VALUES (:t, :id, :c, :fm, :fd, :tm, :td, :ts) RETURNING {_REEMBED}",
                    {
                        "t": tenant_id,
                        "id": new_id(),
                        "c": collection_id,
                        "fm": found.embedding_model,
                        "fd": found.embedding_dim,
                        "tm": model,
                        "td": dim,
                        "ts": 1 - int(found.embedding_slot),
                    },
                )
            ).one()
    except IntegrityError:
        return None
    return _reembed(row)


async def get(session: AsyncSession, reembed_id: str) -> Reembed | None:
    sql = f"SELECT {_REEMBED} FROM knowledge_reembeds WHERE id = :r"  # noqa: S608
    row = (await run_sql(session, sql, {"r": reembed_id})).first()
    return _reembed(row) if row else None


async def latest(session: AsyncSession, collection_id: str) -> Reembed | None:
    row = (
        await run_sql(
            session,
            f"SELECT {_REEMBED} FROM knowledge_reembeds WHERE collection_id = :c"  # noqa: S608
            " ORDER BY created_at DESC, id DESC LIMIT 1",
            {"c": collection_id},
        )
    ).first()
    return _reembed(row) if row else None


async def pending_chunks(session: AsyncSession, r: Reembed, limit: int) -> list[tuple[str, int, str]]:
    """(document, ord, text to embed) of chunks still without a vector in the target slot."""
    column, _dim = slot_columns(r.to_slot)
    rows = await run_sql(
        session,
        f"SELECT document_id, ord, heading, text FROM knowledge_chunks WHERE collection_id = :c AND {column} IS NULL"  # noqa: S608
        " ORDER BY document_id, ord LIMIT :n",
        {"c": r.collection_id, "n": limit},
    )
    # Embedded as ingestion embeds them: heading and text together.
    return [(x.document_id, x.ord, f"{x.heading}\n{x.text}" if x.heading else x.text) for x in rows]


async def write_vectors(session: AsyncSession, r: Reembed, rows: list[tuple[str, int, str]]) -> list[tuple[str, int]]:
    """Writes (document, ord, vector literal) into the target slot while the re-embed is still running; returns the
    (document, ord) pairs written."""
    column, dim_column = slot_columns(r.to_slot)
    result = await run_sql(
        session,
        f"UPDATE knowledge_chunks c SET {column} = CAST(v.e AS vector), {dim_column} = :dim"  # noqa: S608
        " FROM unnest(CAST(:docs AS text[]), CAST(:ords AS int[]), CAST(:vectors AS text[])) AS v(doc, ord, e)"
        " WHERE c.document_id = v.doc AND c.ord = v.ord AND c.collection_id = :c"
        " AND EXISTS (SELECT 1 FROM knowledge_reembeds r WHERE r.id = :r AND r.status = 'running')"
        " RETURNING c.document_id, c.ord",
        {
            "dim": r.to_dim, "c": r.collection_id, "r": r.id, "docs": [d for d, _o, _v in rows],
            "ords": [o for _d, o, _v in rows], "vectors": [v for _d, _o, v in rows],
        },
    )  # fmt: skip
    return [(str(x.document_id), int(x.ord)) for x in result]


async def counts(session: AsyncSession, r: Reembed) -> tuple[int, int]:
    """(chunks with a new vector, chunks without one) of the collection."""
    column, _dim = slot_columns(r.to_slot)
    row = (
        await run_sql(
            session,
            f"SELECT count({column}) AS done, count(*) - count({column}) AS missing FROM knowledge_chunks"  # noqa: S608
            " WHERE collection_id = :c",
            {"c": r.collection_id},
        )
    ).one()
    return int(row.done), int(row.missing)


async def _locked(session: AsyncSession, reembed_id: str) -> Reembed | None:
    """The re-embed read again under an exclusive lock of its collection's row (the lock switch, cancel and
    ingestion's chunk writes order themselves by); None when either is gone."""
    r = await get(session, reembed_id)
    if r is None:
        return None
    locked = (
        await run_sql(session, "SELECT 1 FROM knowledge_collections WHERE id = :c FOR UPDATE", {"c": r.collection_id})
    ).first()
    return await get(session, reembed_id) if locked is not None else None


async def switch(session: AsyncSession, reembed_id: str) -> tuple[Reembed | None, int]:
    """(the re-embed, 0) once the collection reads the new generation, or (the re-embed, chunks still without a
    new vector) and nothing changed; (None, 0) when the collection or the re-embed is gone. Idempotent. A
    re-embed whose cancel was requested first is not switched: (the re-embed with `cancel_requested_at`, 0)."""
    r = await _locked(session, reembed_id)  # a retried attempt may have switched already
    if r is None:
        return None, 0
    if r.switched_at is not None or r.cancel_requested_at is not None:
        return r, 0
    _done, missing = await counts(session, r)
    if missing:
        return r, missing
    await run_sql(
        session,
        "UPDATE knowledge_collections SET embedding_model = :m, embedding_dim = :d, embedding_slot = :s WHERE id = :c",
        {"m": r.to_model, "d": r.to_dim, "s": r.to_slot, "c": r.collection_id},
    )
    await run_sql(session, "UPDATE knowledge_reembeds SET switched_at = now() WHERE id = :r", {"r": r.id})
    return await get(session, reembed_id), 0


async def purge_slot(session: AsyncSession, collection_id: str, slot: int, limit: int) -> int:
    """Empties up to `limit` chunks' vectors in `slot`, never the slot the collection reads; returns how many."""
    column, dim_column = slot_columns(slot)
    result = await run_sql(
        session,
        f"UPDATE knowledge_chunks SET {column} = NULL, {dim_column} = NULL WHERE (tenant_id, document_id, ord) IN ("  # noqa: S608
        f"SELECT c.tenant_id, c.document_id, c.ord FROM knowledge_chunks c WHERE c.collection_id = :c"
        f" AND c.{column} IS NOT NULL LIMIT :n)"
        " AND EXISTS (SELECT 1 FROM knowledge_collections k WHERE k.id = :c AND k.embedding_slot <> :slot)",
        {"c": collection_id, "slot": slot, "n": limit},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def set_progress(session: AsyncSession, reembed_id: str, embedded: int) -> None:
    sql = "UPDATE knowledge_reembeds SET embedded = :e WHERE id = :r"
    await run_sql(session, sql, {"e": embedded, "r": reembed_id})


async def finish(session: AsyncSession, reembed_id: str, status: str, reason: str) -> bool:
    """Records the outcome once; False when it was already recorded (a retried attempt) or the row is gone."""
    result = await run_sql(
        session,
        "UPDATE knowledge_reembeds SET status = :s, reason = :why, finished_at = now()"
        " WHERE id = :r AND status = 'running'",
        {"s": status, "why": reason[:500], "r": reembed_id},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def request_cancel(session: AsyncSession, reembed_id: str) -> Reembed | None:
    """Records that an administrator asked to cancel, under the collection's lock, unless the run has switched
    or finished; returns the re-embed as it is now (the caller reads `switched_at` and `status`)."""
    r = await _locked(session, reembed_id)
    if r is None or r.status != "running" or r.switched_at is not None or r.cancel_requested_at is not None:
        return r
    await run_sql(session, "UPDATE knowledge_reembeds SET cancel_requested_at = now() WHERE id = :r", {"r": reembed_id})
    return await get(session, reembed_id)


async def cancel(session: AsyncSession, reembed_id: str, reason: str) -> Reembed | None:
    """Marks the run `cancelled` unless it has switched (then it must complete); idempotent: a run already
    cancelled is returned as it is. None when the re-embed or its collection is gone."""
    r = await _locked(session, reembed_id)
    if r is None or r.status != "running" or r.switched_at is not None:
        return r
    await run_sql(
        session,
        "UPDATE knowledge_reembeds SET status = 'cancelled', reason = :why, finished_at = now(),"
        " cancel_requested_at = coalesce(cancel_requested_at, now()) WHERE id = :r",
        {"why": reason[:500], "r": reembed_id},
    )
    return await get(session, reembed_id)
