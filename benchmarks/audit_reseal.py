"""Re-anchoring an old audit chain: what it costs, and what it adds to verifying the chain afterwards.

    python -m benchmarks audit-reseal [--events 2000] [--every 4] [--batch-size 500]

On a throwaway Postgres, one process. Two tenants get the same chain of `events` events written as before
sealing existed: every `every`-th one an `approval.requested` with its arguments in clear details, the rest
holding nothing of a customer. Measured in the same run:
- writing that chain (the baseline: one event per transaction, as the platform appends);
- re-anchoring tenant A in batches of `batch-size` (one transaction each, each re-hashing to the head) and
  tenant B in one batch of everything;
- verifying each chain before and after, median of five (after: every re-anchor's signature and hash lists
  checked too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

from core.crypto import fields
from core.crypto.secretbox import build_keyring
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database
from db.migrate import migrate
from policies.erasure.signing import ReportSigner
from tenancy.audit import record_event
from tenancy.audit_read import verify_chain
from tenancy.audit_reseal import MAX_BATCH, reseal_tenant
from tenancy.tenants import create_tenant

ARGUMENTS = {"order_id": "8b0e6c9e-1f3a-4d7b-9a55-1d2e3f4a5b6c", "amount_cents": 10_500, "reason": "arrived damaged"}


async def _write(db: Database, tenant: str, args: argparse.Namespace) -> float:
    started = time.perf_counter()
    for n in range(args.events):
        async with db.tenant_session(tenant) as session:
            if n % args.every == 0:
                details = {"conversation_id": str(uuid.uuid4()), "tool": "orders.refund", "arguments": ARGUMENTS}
                await record_event(
                    session, tenant_id=tenant, actor="bench", action="approval.requested", details=details
                )
            else:
                await record_event(session, tenant_id=tenant, actor="bench", action="key.used", details={"n": n})
    return time.perf_counter() - started


async def _verify(db: Database, tenant: str) -> tuple[float, int]:
    """The median of five verifications of the whole chain, and the re-anchors it checked."""
    times, reanchors = [], 0
    for _ in range(5):
        started = time.perf_counter()
        async with db.tenant_session(tenant) as session:
            result = await verify_chain(session, tenant)
        assert result.ok, result
        times.append(time.perf_counter() - started)
        reanchors = len(result.reanchored)
    return statistics.median(times), reanchors


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    fields.configure(settings)
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    signer = ReportSigner(build_keyring(db, settings))
    result: dict[str, Any] = {"events": args.events, "in_clear": len(range(0, args.events, args.every))}
    try:
        for label, batch in (("batched", args.batch_size), ("one_batch", MAX_BATCH)):
            created = await create_tenant(settings.database_url or "", name=f"bench reseal {uuid.uuid4().hex[:6]}",
                                          pepper=settings.api_key_pepper.get_secret_value())  # fmt: skip
            tenant = created.tenant_id
            write_s = await _write(db, tenant, args)
            verify_before_s, _ = await _verify(db, tenant)
            started = time.perf_counter()
            done = await reseal_tenant(db, tenant, signer, actor="bench", batch_size=batch)
            reseal_s = time.perf_counter() - started
            verify_after_s, reanchors = await _verify(db, tenant)
            result[label] = {
                "batch_size": batch,
                "reanchors": len(done),
                "write_s": round(write_s, 3),
                "reseal_s": round(reseal_s, 3),
                "reseal_vs_write": round(reseal_s / write_s, 3),
                "verify_before_ms": round(verify_before_s * 1000, 1),
                "verify_after_ms": round(verify_after_s * 1000, 1),
                "verify_ratio": round(verify_after_s / verify_before_s, 2),
            }
            assert reanchors == len(done)
    finally:
        await db.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000, help="events in each chain")
    parser.add_argument("--every", type=int, default=4, help="every n-th event holds customer details in clear")
    parser.add_argument("--batch-size", type=int, default=500, help="clear events per re-anchor transaction")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    with throwaway_stack("aiaas-bench-reseal-") as settings:
        result = asyncio.run(_measure(settings, args))
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))
    for label in ("batched", "one_batch"):
        r = result[label]
        print(
            f"{label}: {result['in_clear']} of {args.events} events resealed in {r['reseal_s']:.2f} s"
            f" ({r['reanchors']} re-anchors), writing the chain took {r['write_s']:.2f} s"
            f" ({r['reseal_vs_write']:.2f}x); verify {r['verify_before_ms']:.0f} -> {r['verify_after_ms']:.0f} ms"
            f" ({r['verify_ratio']:.2f}x)"
        )
    return 0
