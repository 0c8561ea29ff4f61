"""The console's knowledge collection page against the JSON list of documents it is built on.

One gateway process on a throwaway stack; the tenant gets one collection holding `--documents` documents
(ready, 5,000 by default, the enterprise plan's most; only their rows, no chunks, as a listing reads no
more). Each round asks, interleaved so both see the same machine: `GET /v1/knowledge/collections/{id}/documents`
(the baseline: the same query, JSON out) and `GET /console/knowledge/collections/{id}` (session resolved,
the collection, the stream's newest event id for the live view, the same document query, the latest
re-embed, HTML rendered), for the first page, a filtered page and the second page.
Goal: console p95 under 100 ms, as for every console page; the ratio to the API says what the page adds.

    python -m benchmarks console-knowledge [--documents 5000] [--rounds 300]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

import httpx

from benchmarks.console_pages import _stats, sample_pairs
from benchmarks.platform_processes import running_platform
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database, run_sql

_SEED = (
    "INSERT INTO knowledge_documents (tenant_id, id, collection_id, filename, media_type, size_bytes,"
    " content_sha256, groups, metadata, status, chunks, pages)"
    " SELECT :tid, gen_random_uuid()::text, CAST(:cid AS text), 'doc-' || g || '.md', 'text/markdown', 1000 + g,"
    " md5(g::text || CAST(:cid AS text)), CASE WHEN g % 3 = 0 THEN ARRAY['staff'] ELSE ARRAY[]::text[] END,"
    " '{}'::jsonb, CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'ready' END, 4, 1 FROM generate_series(1, :n) AS g"
)
_NEXT = re.compile(r'id="next-page" href="\?([^"]+)"')


async def seed(settings: Settings, tenant_id: str, collection_id: str, count: int) -> None:
    db = Database(settings.resolved_app_database_url())
    try:
        async with db.tenant_session(tenant_id) as session:
            await run_sql(session, _SEED, {"tid": tenant_id, "cid": collection_id, "n": count})
    finally:
        await db.close()


def measure(base_url: str, api_key: str, collection_id: str, rounds: int) -> dict[str, dict[str, list[float]]]:
    api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
    console = httpx.Client(base_url=base_url, timeout=30)
    signed = console.post("/console/sign-in", data={"credential": api_key}, headers={"Origin": base_url})
    assert signed.status_code == 303, signed.text
    page = f"/console/knowledge/collections/{collection_id}"
    listing = f"/v1/knowledge/collections/{collection_id}/documents"
    first = console.get(page)
    assert first.status_code == 200 and first.text.count("<tr data-document=") == 50, first.status_code
    console_next = page + "?" + _NEXT.search(first.text).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    api_cursor = api.get(listing).json()["next_cursor"]
    cases = {
        "first page": (listing, page),
        "filtered (failed)": (f"{listing}?status=failed", f"{page}?status=failed"),
        "second page": (f"{listing}?cursor={api_cursor}", console_next),
    }
    return sample_pairs(api, console, cases, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks console-knowledge", description=__doc__)
    parser.add_argument("--documents", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    with (
        throwaway_stack("aiaas-bench-console-knowledge-") as settings,
        running_platform(settings, 0, 1, AIAAS_CONSOLE_PER_MINUTE_PER_ADDRESS="1000000") as platform,
    ):
        api = httpx.Client(
            base_url=platform.base_url, headers={"Authorization": f"Bearer {platform.api_key}"}, timeout=30
        )
        collection_id = api.post("/v1/knowledge/collections", json={"name": "Handbook"}).json()["id"]
        asyncio.run(seed(settings, platform.tenant_id, collection_id, args.documents))
        samples = measure(platform.base_url, platform.api_key, collection_id, args.rounds)
    print(f"console collection page, {args.documents} documents in the collection, {args.rounds} rounds")
    print(f"{'case':<18} {'api p50':>9} {'api p95':>9} {'console p50':>12} {'console p95':>12} {'p95 ratio':>10}")
    worst = 0.0
    for name, kinds in samples.items():
        api_stats, console = _stats(kinds["api"]), _stats(kinds["console"])
        worst = max(worst, console["p95_ms"])
        print(
            f"{name:<18} {api_stats['p50_ms']:>7.1f}ms {api_stats['p95_ms']:>7.1f}ms {console['p50_ms']:>10.1f}ms"
            f" {console['p95_ms']:>10.1f}ms {console['p95_ms'] / api_stats['p95_ms']:>9.2f}x"
        )
    print(f"goal: console p95 < 100 ms -> {'met' if worst < 100 else 'NOT met'} (worst {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
