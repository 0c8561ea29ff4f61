"""Transcripts sealed at rest: what sealing costs a transcript write and read, and how fast rotation re-encrypts.

    python -m benchmarks sealed-fields [--messages 1000] [--history 20] [--rows 20000] [--batch 200]

On a throwaway Postgres, one tenant, one process. A sample is one write of a user message and one read of
the conversation's last `history` messages (what the model context reads each turn), each in its own
tenant-bound transaction, measured two ways in the same run, interleaved sample by sample:
- sealed: `agents.transcripts` (AES-256-GCM under the tenant's data key, keys cached in process);
- clear (the baseline): the same statements on the clear `content` column, as before sealing existed.
Then rotation: `rows` messages written in clear (as rows from before sealing) are sealed by the rotation's
batches (`agents.resealing`, `batch` rows a transaction), then re-encrypted again under a newer version.
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

from agents import transcripts
from agents.resealing import reseal_messages
from core.crypto import fields
from core.crypto.fields import FieldSealer
from core.logging import configure_logging
from core.settings import Settings
from core.stack.stack import throwaway_stack
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant

TEXT = "Hello, my order 1042 never arrived; card ending 6467, call me on +44 20 7946 0000 after five please."
_CLEAR_INSERT = (
    "INSERT INTO messages (id, tenant_id, conversation_id, role, content, created_at)"
    " VALUES (:id, :t, :c, 'user', :content, now())"
)
_CLEAR_HISTORY = (
    "SELECT role, content FROM (SELECT role, content, seq FROM messages WHERE conversation_id = :c"
    " ORDER BY seq DESC LIMIT :n) recent ORDER BY seq"
)


async def _conversation(db: Database, tid: str) -> str:
    cid = str(uuid.uuid4())
    async with db.tenant_session(tid) as session:
        await run_sql(
            session,
            "INSERT INTO conversations (id, tenant_id, agent, channel) VALUES (:c, :t, 'support', 'api')",
            {"c": cid, "t": tid},
        )
    return cid


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


async def _turns(db: Database, tid: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    sealed_cid, clear_cid = await _conversation(db, tid), await _conversation(db, tid)

    async def sealed() -> None:
        mid = str(uuid.uuid4())
        async with db.tenant_session(tid) as session:
            await transcripts.insert_user_message(
                session, tenant_id=tid, conversation_id=sealed_cid, message_id=mid, content=TEXT, client_message_id=None
            )
        async with db.tenant_session(tid) as session:
            await transcripts.history_for(session, conversation_id=sealed_cid, up_to_message_id=mid, limit=args.history)

    async def clear() -> None:
        async with db.tenant_session(tid) as session:
            await run_sql(session, _CLEAR_INSERT, {"id": str(uuid.uuid4()), "t": tid, "c": clear_cid, "content": TEXT})
        async with db.tenant_session(tid) as session:
            (await run_sql(session, _CLEAR_HISTORY, {"c": clear_cid, "n": args.history})).all()

    for warm in (sealed, clear):
        for _ in range(20):
            await warm()
    times: dict[str, list[float]] = {"sealed": [], "clear": []}
    for _ in range(args.messages):
        times["sealed"].append(await _timed(sealed))
        times["clear"].append(await _timed(clear))
    return {
        name: {
            "p50_ms": statistics.median(values),
            "p95_ms": statistics.quantiles(values, n=20)[18],
            "mean_ms": statistics.fmean(values),
        }
        for name, values in times.items()
    }


async def _rotation(db: Database, tid: str, args: argparse.Namespace) -> dict[str, float]:
    cid = await _conversation(db, tid)
    async with db.tenant_session(tid) as session:
        await run_sql(
            session,
            "INSERT INTO messages (id, tenant_id, conversation_id, role, content)"
            " SELECT gen_random_uuid()::text, :t, :c, 'user', :x || g FROM generate_series(1, :n) g",
            {"t": tid, "c": cid, "x": TEXT, "n": args.rows},
        )
    rates: dict[str, float] = {}
    for label in ("clear rows sealed (rows/s)", "sealed rows re-encrypted under a new version (rows/s)"):
        async with db.tenant_session(tid) as session:
            target = await FieldSealer(session, tid).rotate()
        done, started = 0, time.perf_counter()
        while True:
            async with db.tenant_session(tid) as session:
                batch = await reseal_messages(session, tid, target=target, limit=args.batch)
            done += batch
            if batch < args.batch:
                break
        rates[label] = done / (time.perf_counter() - started)
    return rates


def _crypto(args: argparse.Namespace) -> dict[str, float]:
    """Microseconds per seal and open of one message, without the database (the AES-GCM share)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, nonce, data = AESGCM(AESGCM.generate_key(bit_length=256)), b"\x00" * 12, TEXT.encode()
    count = args.messages * 20
    started = time.perf_counter()
    for _ in range(count):
        aead.decrypt(nonce, aead.encrypt(nonce, data, b"aad"), b"aad")
    return {"seal_and_open_us": (time.perf_counter() - started) / count * 1e6}


async def _measure(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    fields.configure(settings)
    tenant = await create_tenant(settings.database_url or "", name=f"bench sealed {uuid.uuid4().hex[:6]}",
                                 pepper=settings.api_key_pepper.get_secret_value())  # fmt: skip
    db = Database(settings.resolved_app_database_url(), pool_size=4)
    try:
        turns = await _turns(db, tenant.tenant_id, args)
        rotation = await _rotation(db, tenant.tenant_id, args)
    finally:
        await db.close()
    return {"turn_write_and_read": turns, "rotation": rotation, "aes_gcm": _crypto(args)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="samples of each kind")
    parser.add_argument("--history", type=int, default=20, help="messages read back per sample")
    parser.add_argument("--rows", type=int, default=20000, help="rows in clear for the rotation")
    parser.add_argument("--batch", type=int, default=200, help="rows per re-encryption transaction")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=False)
    with throwaway_stack("aiaas-bench-sealed-") as settings:
        result = asyncio.run(_measure(settings, args))
    print(json.dumps(result, indent=1))
    sealed, clear = result["turn_write_and_read"]["sealed"], result["turn_write_and_read"]["clear"]
    print(f"\nwrite + read of {args.history}: sealed p50 {sealed['p50_ms']:.2f} ms, p95 {sealed['p95_ms']:.2f} ms;")
    print(f"  clear (baseline, same run) p50 {clear['p50_ms']:.2f} ms, p95 {clear['p95_ms']:.2f} ms;")
    print(f"  ratio p50 {sealed['p50_ms'] / clear['p50_ms']:.2f}x, mean {sealed['mean_ms'] / clear['mean_ms']:.2f}x")
    for label, rate in result["rotation"].items():
        print(f"rotation: {label}: {rate:.0f}")
    return 0
