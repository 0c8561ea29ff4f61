"""A golden task's knowledge: the shop's documents under `evals/knowledge/`, made searchable in the eval tenant.

A task naming documents (`knowledge: [returns-policy.md, ...]`) gets one collection, `eval knowledge`, in its
own tenant before the conversation starts. Each file goes through the platform's own ingestion steps, the
ones `IngestDocumentWorkflow`'s activities run (`knowledge.catalog.add_document`, `knowledge.parsers.parse`,
`knowledge.chunking.chunk_sections`, the offline embedder, the process's knowledge store), called in-process from the
task's prepare activity: a task's handful of short files is ingested in well under a second, and the
conversation then finds them through the production `knowledge.search` tool like any customer would.

Seeding is idempotent: the collection is found by name, a document by its content hash (the catalogue's own
dedup), and a document already `ready` is not parsed or embedded again, so a retried prepare repeats nothing.
"""

from __future__ import annotations

from pathlib import Path

from contracts.knowledge import DocumentStatus
from db.database import Database, run_sql
from knowledge import catalog
from knowledge.backends import store_for
from knowledge.chunking import chunk_sections
from knowledge.embeddings import OFFLINE_DIM, OFFLINE_MODEL, embedder_for
from knowledge.parsers import parse
from knowledge.store import ChunkRow

KNOWLEDGE_DIR = Path(__file__).resolve().parents[1] / "evals" / "knowledge"
COLLECTION = "eval knowledge"
MEDIA_TYPES = {".md": "text/markdown", ".txt": "text/plain"}


class KnowledgeFileError(ValueError):
    """A task names a document that is not under `evals/knowledge/` or has a type the suite does not ingest."""


def document_path(name: str, root: Path = KNOWLEDGE_DIR) -> Path:
    path = (root / name).resolve()
    if path.parent != root.resolve() or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise KnowledgeFileError(f"no knowledge document {name!r} under {root}")
    return path


async def seed_knowledge(db: Database, tenant_id: str, names: list[str], root: Path = KNOWLEDGE_DIR) -> str:
    """The id of the tenant's eval collection, holding the named documents ingested and `ready`."""
    store = store_for(db.tenant_session)  # the process's store: Weaviate too when the platform searches there
    embedder = embedder_for(OFFLINE_MODEL)
    async with db.tenant_session(tenant_id) as session:
        collection = await catalog.create_collection(
            session, tenant_id, name=COLLECTION, description="golden task documents", model=OFFLINE_MODEL,
            dim=OFFLINE_DIM,
        )  # fmt: skip
        if collection is None:
            row = (
                await run_sql(session, "SELECT id FROM knowledge_collections WHERE name = :n", {"n": COLLECTION})
            ).one()
            collection_id = str(row.id)
        else:
            collection_id = collection.id
    for name in names:
        path = document_path(name, root)
        content = path.read_bytes()
        media_type = MEDIA_TYPES[path.suffix]
        async with db.tenant_session(tenant_id) as session:
            document, _created = await catalog.add_document(
                session, tenant_id, collection_id, filename=path.name, media_type=media_type, content=content,
                groups=[], metadata={"source": "evals"},
            )  # fmt: skip
        if document.status == DocumentStatus.READY:
            continue
        sections = parse(content, media_type)
        chunks = chunk_sections(sections, count=embedder.count_tokens)
        rows = [ChunkRow(ord=c.ord, text=c.text, heading=c.heading, page=c.page) for c in chunks]
        await store.replace_chunks(tenant_id, document.id, collection_id, rows, groups=[], metadata=document.metadata)
        # Embedded with the heading, as the ingestion's embed activity does.
        vectors = await embedder.embed([f"{r.heading}\n{r.text}" if r.heading else r.text for r in rows])
        await store.set_embeddings(
            tenant_id, document.id, {r.ord: v for r, v in zip(rows, vectors, strict=True)}, OFFLINE_DIM
        )
        async with db.tenant_session(tenant_id) as session:
            await catalog.set_status(session, document.id, DocumentStatus.READY, pages=0, chunks=len(rows))
    return collection_id
