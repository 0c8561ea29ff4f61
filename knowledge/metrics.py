"""Knowledge metrics (bounded labels only: a status, a search mode; never a tenant or a document)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DOCUMENTS_INGESTED = Counter(
    "aiaas_knowledge_documents_ingested_total", "Documents whose ingestion ended, by final status", ["status"]
)
CHUNKS_EMBEDDED = Counter("aiaas_knowledge_chunks_embedded_total", "Chunks embedded by ingestion")
SEARCH_SECONDS = Histogram(
    "aiaas_knowledge_search_seconds",
    "Knowledge search latency, embedding the query included",
    ["mode"],
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
