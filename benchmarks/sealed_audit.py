"""The audit log's sealed part: what sealing costs an append, a page read and a chain verification.

    python -m benchmarks sealed-audit [--events 500] [--page 50]

On a throwaway Postgres, one tenant, one process. An append is one tenant-bound transaction writing one event
the way the approvals activity does, measured two ways in the same run, interleaved sample by sample:
- sealed: the arguments passed as `private` (a fresh event key, AES-256-GCM, the key sealed under the tenant's
  data key, the chain hashing the ciphertext's digest);
- clear (the baseline): the same arguments in the clear details, as before sealing existed.
Then, on two tenants holding `events` events each (one sealed, one clear): reading the newest `page` events
(every sealed part opened) and verifying the whole chain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from core.crypto import fields
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from tenancy.audit import record_event
from tenancy.audit_read import list_events, verify_chain
from tenancy.tenants import create_tenant

ARGUMENTS = {"order_id": "8b0e6c9e-1f3a-4d7b-9a55-1d2e3f4a5b6c", "amount_cents": 10_500, "reason": "arrived damaged"}


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": statistics.median(values),
        "p95_ms": statistics.quantiles(values, n=20)[18],
        "mean_ms": statistics.fmean(values),
    }


async def _appends(db: Database, tenants: dict[str, str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    def append(kind: str) -> Callable[[], Awaitable[None]]:
        tid = tenants[kind]

        async def write() -> None:
            details: dict[str, Any] = {"conversation_id": str(uuid.uuid4()), "tool": "orders.refund"}
            async with db.tenant_session(tid) as session:
                if kind == "sealed":
                    await record_event(
                        session,
                        tenant_id=tid,
                        actor="bench",
                        action="approval.requested",
                        details=details,
                        private={"arguments": ARGUMENTS},
                    )
                else:
                    details["arguments"] = ARGUMENTS
                    await record_event(
                        session, tenant_id=tid, actor="bench", action="approval.requested", details=details
                    )

        return write

    work = {kind: append(kind) for kind in tenants}
    for write in work.values():
        for _ in range(20):
            await write()
    times: dict[str, list[float]] = {kind: [] for kind in tenants}
    for _ in range(args.events):
        for kind, write in work.items():
            times[kind].append(await _timed(write))
    return {kind: _summary(values) for kind, values in times.items()}


async def _reads(db: Database, tenants: dict[str, str], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for kind, tid in tenants.items():

        async def page(tid: str = tid) -> None:
            async with db.tenant_session(tid) as session:
                await list_events(session, tid, limit=args.page)

        async def verify(tid: str = tid) -> None:
            async with db.tenant_session(tid) as session:
                assert (await verify_chain(session, tid)).ok

        pages = [await _timed(page) for _ in range(50)]
        verifies = [await _timed(verify) for _ in range(5)]
        result[kind] = {"page_p50_ms": statistics.median(pages), "verify_p50_ms": statistics.median(verifies)}
    return result


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    fields.configure(settings)
    tenants = {}
    for kind in ("sealed", "clear"):
        created = await create_tenant(settings.database_url or "", name=f"bench audit {kind} {uuid.uuid4().hex[:6]}",
                                      pepper=settings.api_key_pepper.get_secret_value())  # fmt: skip
        tenants[kind] = created.tenant_id
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    try:
        return {"append": await _appends(db, tenants, args), "read": await _reads(db, tenants, args)}
    finally:
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=500, help="appends of each kind")
    parser.add_argument("--page", type=int, default=50, help="events per page read")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    with throwaway_stack("aiaas-bench-audit-") as settings:
        result = asyncio.run(_measure(settings, args))
    print(json.dumps(result, indent=1))
    sealed, clear = result["append"]["sealed"], result["append"]["clear"]
    print(f"\nappend: sealed p50 {sealed['p50_ms']:.2f} ms, p95 {sealed['p95_ms']:.2f} ms;")
    print(f"  clear (baseline, same run) p50 {clear['p50_ms']:.2f} ms, p95 {clear['p95_ms']:.2f} ms;")
    print(f"  ratio p50 {sealed['p50_ms'] / clear['p50_ms']:.2f}x, mean {sealed['mean_ms'] / clear['mean_ms']:.2f}x")
    reads = result["read"]
    for what in ("page_p50_ms", "verify_p50_ms"):
        ratio = reads["sealed"][what] / reads["clear"][what]
        print(f"{what}: sealed {reads['sealed'][what]:.2f}, clear {reads['clear'][what]:.2f} ({ratio:.2f}x)")
    return 0
