"""Standby failover drill: how long a tenant's new conversations are refused while a streaming standby of
the embedded Postgres is promoted after its primary dies.

A primary of its own (the stack's Postgres part, migrated, one tenant), and a standby streaming from it
(`pg_basebackup -R`, a second postgres on another port; `core.dr.standby`). A probe creates the tenant's
conversations with the API's own statement through the app's `Database`, whose URL names both servers with
`target_session_attrs=read-write` (what a gateway's DATABASE_URL says in this design), every `--interval`
seconds. Then the primary is killed (SIGKILL: a crash, not a shutdown) and, after `--detect` seconds (the time
a failure detector takes to decide), the standby is promoted with `pg_promote`. Printed:

- the refusal window: from the first refused conversation to the first created on the new primary;
- its parts: detection (the chosen delay), `pg_promote` itself, the client finding the new primary;
- conversations acknowledged before the crash that the new primary lacks (asynchronous replication);
- the baseline of the same run: a conversation's creation time before the crash (p50/p95).

    python -m benchmarks standby [--detect 1.0 --interval 0.02 --before 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from core.dr.standby import promote, replay_lag_bytes, start_standby
from core.stack.ports import free_port
from core.stack.postgres import EmbeddedPostgres
from db.database import Database, run_sql
from db.migrate import migrate
from tenancy.tenants import create_tenant

HOST = "127.0.0.1"
APP_PASSWORD = "standby-drill-app"
# The statement `POST /v1/conversations` runs (api/routes/conversations.py).
CREATE = (
    "INSERT INTO conversations (id, tenant_id, agent, channel, metadata, double_texting, status,"
    " customer_id, created_at, updated_at)"
    " VALUES (:id, :tid, 'default', 'api', CAST('{}' AS jsonb), 'enqueue', 'open', NULL, now(), now())"
)


def failover_url(ports: tuple[int, int]) -> str:
    """The app role's URL naming both servers; the client takes the one that accepts writes."""
    hosts = "&".join(f"host={HOST}:{port}" for port in ports)
    return f"postgresql://aiaas_app:{APP_PASSWORD}@/aiaas?{hosts}&target_session_attrs=read-write"


Attempt = tuple[float, float, str | None]


class Probe:
    """Creates the tenant's conversations one after another until stopped; notes each attempt as (started,
    seconds, created id or None when refused), and `recovered` once one is created after `crashed`."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []
        self.stop = asyncio.Event()
        self.recovered = asyncio.Event()
        self.crashed = float("inf")

    async def run(self, db: Database, tenant_id: str, interval: float) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            created = await _create(db, tenant_id)
            self.attempts.append((began, time.monotonic() - began, created))
            if created is not None and began > self.crashed:
                self.recovered.set()
            await asyncio.sleep(interval)


async def _create(db: Database, tenant_id: str) -> str | None:
    """A new conversation's id, or None when the database refused it."""
    conversation_id = str(uuid.uuid4())
    try:
        async with db.tenant_session(tenant_id) as session:
            await run_sql(session, CREATE, {"id": conversation_id, "tid": tenant_id})
    except Exception:
        return None
    return conversation_id


async def drill(root: Path, *, detect: float, interval: float, before: float) -> dict[str, float]:
    primary = EmbeddedPostgres(data_dir=root / "primary", host=HOST, port=free_port(HOST))
    primary.preflight()
    admin_url = await asyncio.to_thread(primary.start, threading.Event())
    standby = None
    try:
        await migrate(admin_url, APP_PASSWORD)
        tenant = await create_tenant(admin_url, name=f"standby {uuid.uuid4().hex[:6]}", plan="pro", pepper="drill")
        password = primary.password_file.read_text().strip()
        standby = await start_standby(admin_url, password, root / "standby", HOST)
        standby_url = standby.url(password)
        db = Database(failover_url((primary.port, standby.port)), pool_size=2)
        probe = Probe()
        running = asyncio.create_task(probe.run(db, tenant.tenant_id, interval))
        await asyncio.sleep(before)
        lag = await replay_lag_bytes(admin_url, standby_url)
        assert primary.process is not None and primary.process.pid is not None
        crashed = probe.crashed = time.monotonic()
        os.kill(primary.process.pid, signal.SIGKILL)
        await asyncio.sleep(detect)
        promote_seconds = await promote(standby_url)
        promoted = time.monotonic()
        # Until the probe creates conversations on the new primary (a second more), or gives up after a minute.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(probe.recovered.wait(), 60)
        await asyncio.sleep(1.0)
        probe.stop.set()
        await running
        await db.close()
        return _figures(
            probe.attempts, crashed, promoted, promote_seconds, lag, await _present(standby_url, tenant.tenant_id)
        )
    finally:
        if standby is not None:
            standby.stop()
        primary.stop()


async def _present(standby_url: str, tenant_id: str) -> set[str]:
    import asyncpg

    conn = await asyncpg.connect(standby_url, timeout=10)
    try:
        rows = await conn.fetch("SELECT id::text FROM conversations WHERE tenant_id = $1", tenant_id)
        return {r[0] for r in rows}
    finally:
        await conn.close()


def _figures(
    attempts: list[Attempt],
    crashed: float,
    promoted: float,
    promote_seconds: float,
    lag: int,
    present: set[str],
) -> dict[str, float]:
    ok_before = [a for a in attempts if a[2] is not None and a[0] + a[1] <= crashed]
    refused = [a for a in attempts if a[2] is None]
    after = [a for a in attempts if a[2] is not None and a[0] > crashed]
    if not refused or not after:
        ok = sum(a[2] is not None for a in attempts)
        raise RuntimeError(f"the probe saw no refusal or no recovery ({ok} of {len(attempts)} created); run longer")
    first_refused = min(a[0] for a in refused)
    first_after = min(a[0] + a[1] for a in after)
    latencies = sorted(a[1] for a in ok_before)
    return {
        "refusal_window_s": first_after - first_refused,
        "crash_to_first_created_s": first_after - crashed,
        "promote_s": promote_seconds,
        "promoted_to_first_created_s": max(0.0, first_after - promoted),
        "refused_attempts": len(refused),
        "acknowledged_before_crash": len(ok_before),
        "lost": sum(1 for a in ok_before if a[2] not in present),
        "replay_lag_bytes_before_crash": lag,
        "baseline_create_p50_ms": statistics.median(latencies) * 1000,
        "baseline_create_p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detect", type=float, default=1.0, help="seconds from the crash to the promotion")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between two conversations")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of conversations before the crash")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aiaas-standby-") as root:
        figures = asyncio.run(drill(Path(root), detect=args.detect, interval=args.interval, before=args.before))
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print("standby failover: a tenant's new conversations while the primary crashes and the standby is promoted")
    print(f"  refusal window        {figures['refusal_window_s']:8.2f} s  (first refused to first created)")
    print(f"    detection (chosen)  {args.detect:8.2f} s")
    print(f"    pg_promote          {figures['promote_s']:8.2f} s")
    print(f"    client reconnects   {figures['promoted_to_first_created_s']:8.2f} s  (promoted to first created)")
    print(f"  refused attempts      {figures['refused_attempts']:8.0f}")
    print(f"  lost                  {figures['lost']:8.0f} of {figures['acknowledged_before_crash']:.0f} acknowledged "
          f"before the crash (standby {figures['replay_lag_bytes_before_crash']:.0f} bytes behind then)")  # fmt: skip
    print(f"  baseline: creating a conversation before the crash, p50 {figures['baseline_create_p50_ms']:.1f} ms, "
          f"p95 {figures['baseline_create_p95_ms']:.1f} ms")  # fmt: skip
    return 0
