"""Ingestion under worker failure: `--files` mixed documents (PDF, DOCX, HTML, Markdown, text) uploaded to one
collection while the worker is SIGKILLed twice and once frozen (SIGSTOP) for longer than the embedding
heartbeat timeout, then resumed (SIGCONT) beside the worker that took over.

Afterwards every document must be `ready` with exactly the chunks its file parses into (computed here with
the same parser and chunker), every chunk embedded once, chunk numbers contiguous, one `ingest.completed`
per document on the tenant's stream and no document twice. The baseline of the same run is the time a
first batch of documents takes with no failure, per document.

    python -m benchmarks ingest-failures [--files 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import asyncpg
import httpx
from redis.asyncio import Redis

from benchmarks.platform_processes import Platform, running_platform
from contracts.events import EventType
from contracts.knowledge import EMBED_HEARTBEAT, KNOWLEDGE_STREAM
from core.events import EventBus
from core.settings import Settings
from core.stack.process import ManagedProcess
from core.stack.stack import throwaway_stack
from knowledge.chunking import chunk_sections
from knowledge.embeddings import OfflineEmbedder
from knowledge.parsers import parse
from tests.knowledge import documents

KINDS = (
    ("md", "text/markdown"), ("txt", "text/plain"), ("html", "text/html"), ("pdf", "application/pdf"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
)  # fmt: skip
SETTLE_SECONDS = 1800.0


@dataclass(frozen=True)
class File:
    name: str
    media_type: str
    content: bytes
    chunks: int


def make_files(count: int, counter: OfflineEmbedder) -> list[File]:
    files = []
    for i in range(count):
        ext, media_type = KINDS[i % len(KINDS)]
        sections = [
            (f"Topic {i}.{s}", f"Document {i} section {s} says rule {i * 7 + s} applies to {uuid.uuid4().hex}. " * 12)
            for s in range(1 + i % 6)
        ]
        if ext == "md":
            content = documents.markdown(sections)
        elif ext == "html":
            content = documents.html(sections)
        elif ext == "docx":
            content = documents.docx(sections)
        elif ext == "pdf":
            content = documents.pdf([f"{h}\n{b}" for h, b in sections])
        else:
            content = "\n\n".join(f"{h}\n\n{b}" for h, b in sections).encode()
        expected = len(chunk_sections(parse(content, media_type), count=counter.count_tokens))
        files.append(File(f"doc-{i}.{ext}", media_type, content, expected))
    return files


def _group(process: ManagedProcess, sig: signal.Signals) -> None:
    assert process.pid is not None
    os.killpg(process.pid, sig)


def _fresh_worker(platform: Platform, template: ManagedProcess, name: str) -> ManagedProcess:
    """Another worker like the platform's first (whose process may be gone by now)."""
    worker = ManagedProcess(name, template.argv, data_dir=template.log_path.parent.parent, env=platform.env)
    worker.start()
    platform.workers.append(worker)
    return worker


async def _ready(api: httpx.AsyncClient, collection_id: str) -> dict[str, str]:
    statuses: dict[str, str] = {}
    cursor = None
    while True:
        page = await api.get(
            f"/v1/knowledge/collections/{collection_id}/documents",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
        )
        body = page.json()
        statuses.update({d["id"]: d["status"] for d in body["items"]})
        cursor = body.get("next_cursor")
        if not cursor:
            return statuses


async def _wait_for(api: httpx.AsyncClient, collection_id: str, ready: int, label: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_SECONDS:
        statuses = await _ready(api, collection_id)
        if sum(s == "ready" for s in statuses.values()) >= ready:
            print(f"  {label}: {ready} documents ready after {time.monotonic() - started:.0f} s")
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    raise RuntimeError(f"{label}: fewer than {ready} documents ready after {SETTLE_SECONDS:.0f} s")


async def _upload(api: httpx.AsyncClient, collection_id: str, files: list[File]) -> dict[str, File]:
    by_id: dict[str, File] = {}
    for file in files:
        response = await api.post(
            f"/v1/knowledge/collections/{collection_id}/documents",
            files={"file": (file.name, file.content, file.media_type)},
        )
        assert response.status_code == 202, response.text
        by_id[response.json()["id"]] = file
    return by_id


async def _verify(settings: Settings, tenant_id: str, collection_id: str, by_id: dict[str, File]) -> dict[str, int]:
    conn = await asyncpg.connect(settings.database_url or "")
    try:
        docs = await conn.fetch(
            "SELECT id, status, chunks FROM knowledge_documents WHERE tenant_id = $1 AND collection_id = $2",
            tenant_id, collection_id,
        )  # fmt: skip
        rows = await conn.fetch(
            "SELECT document_id, count(*) AS n, count(embedding) AS embedded, min(ord) AS lo, max(ord) AS hi"
            " FROM knowledge_chunks WHERE tenant_id = $1 AND collection_id = $2 GROUP BY document_id",
            tenant_id, collection_id,
        )  # fmt: skip
    finally:
        await conn.close()
    chunks = {r["document_id"]: r for r in rows}
    bus = EventBus(Redis.from_url(settings.redis_url or ""))
    events = await bus.history(tenant_id, KNOWLEDGE_STREAM, count=100_000)
    completed = Counter(e.data["document_id"] for e in events if e.type == EventType.INGEST_COMPLETED)
    expected = sum(f.chunks for f in by_id.values())
    found = {
        "documents": len(docs),
        "not ready": sum(d["status"] != "ready" for d in docs),
        "chunks expected": expected,
        "chunks found": sum(r["n"] for r in rows),
        "documents with a wrong chunk count": sum(chunks.get(i, {"n": 0})["n"] != f.chunks for i, f in by_id.items()),
        "chunks not embedded": sum(r["n"] - r["embedded"] for r in rows),
        "documents with gaps in chunk numbers": sum(r["lo"] != 0 or r["hi"] != r["n"] - 1 for r in rows),
        "documents completed != once": sum(completed[i] != 1 for i in by_id),
        "unknown documents": sum(d["id"] not in by_id for d in docs),
    }
    return found


async def scenario(settings: Settings, platform: Platform, files: list[File]) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {platform.api_key}"}
    async with httpx.AsyncClient(base_url=platform.base_url, headers=headers, timeout=60) as api:
        created = await api.post("/v1/knowledge/collections", json={"name": f"chaos {uuid.uuid4().hex[:6]}"})
        assert created.status_code == 201, created.text
        collection_id = created.json()["id"]
        warm = max(1, len(files) // 20)
        by_id = await _upload(api, collection_id, files[:warm])
        baseline = await _wait_for(api, collection_id, warm, "baseline (no failure)")
        started = time.monotonic()
        by_id |= await _upload(api, collection_id, files[warm:])
        total = len(files)
        template = platform.workers[0]
        for n, at in enumerate((total // 4, total // 2), start=1):
            await _wait_for(api, collection_id, at, f"before SIGKILL {n}")
            worker = platform.workers[-1]
            _group(worker, signal.SIGKILL)
            worker.stop()
            platform.workers.remove(worker)
            _fresh_worker(platform, template, f"bench-worker-after-kill-{n}")
        await _wait_for(api, collection_id, 3 * total // 4, "before SIGSTOP")
        frozen = platform.workers[-1]
        _group(frozen, signal.SIGSTOP)
        _fresh_worker(platform, template, "bench-worker-takeover")
        pause = EMBED_HEARTBEAT.total_seconds() + 15
        print(f"  worker frozen for {pause:.0f} s (heartbeat timeout {EMBED_HEARTBEAT.total_seconds():.0f} s)")
        await asyncio.sleep(pause)
        _group(frozen, signal.SIGCONT)
        await _wait_for(api, collection_id, total, "all")
        rest = time.monotonic() - started
        print(f"  baseline {baseline / warm:.2f} s per document; the other {total - warm} from their upload through the"
              f" failures {rest:.0f} s, {rest / (total - warm):.2f} s per document (the freeze included)")  # fmt: skip
        await asyncio.sleep(5)  # the resumed worker's late attempts, if any, land before the count
        return await _verify(settings, platform.tenant_id, collection_id, by_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks ingest-failures", description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args(argv)
    files = make_files(args.files, OfflineEmbedder(threads=1))
    print(f"ingest-failures: {len(files)} files, {sum(f.chunks for f in files)} chunks expected")
    stack = throwaway_stack("aiaas-bench-ingest-", task_queue=f"bench-{uuid.uuid4().hex[:6]}")
    with stack as settings, running_platform(settings, 1, 1) as platform:
        first = list(platform.workers)
        try:
            found = asyncio.run(scenario(settings, platform, files))
        finally:
            for worker in platform.workers:
                if worker not in first:
                    _group(worker, signal.SIGCONT)
                    worker.stop()
    for name, value in found.items():
        print(f"  {name:<40} {value}")
    bad = ("not ready", "documents with a wrong chunk count", "chunks not embedded",
           "documents with gaps in chunk numbers", "documents completed != once", "unknown documents")  # fmt: skip
    ok = found["documents"] == len(files) and found["chunks found"] == found["chunks expected"]
    return 0 if ok and not any(found[k] for k in bad) else 1


if __name__ == "__main__":
    sys.exit(main())
