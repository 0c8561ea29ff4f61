"""`dr.restore_verify`'s work: one server's copies restored into a scratch stack on other ports (with Redis
and Temporal for the global server), every database on it checked against its source numbers, and the
scratch stack stopped and removed; with the layout of a backup's folder both steps share.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from temporalio import activity
from temporalio.converter import PayloadCodec

from activities.dr_checks import Checked, Replay, check_database, on_scratch, server_report
from activities.dr_verify import replay_restored
from contracts.dr import GLOBAL_SCOPE, DrDrillReport, DrServer, RestoreVerifyInput, TableStat
from core.dr.backup import REDIS_MARKER_KEY
from core.dr.scratch import ScratchStack
from core.settings import Settings


def beat(detail: str) -> None:
    activity.heartbeat(detail)


async def restore_and_verify(
    settings: Settings,
    workflows: Sequence[type],
    codec: PayloadCodec | None,
    inp: RestoreVerifyInput,
    server: DrServer,
    urls: dict[str, str],
) -> DrDrillReport:
    """Restore `server`'s copies of `inp.backup`, check each of its databases (`urls`), and report."""
    folder = Path(inp.backup.backup_dir)
    if not (folder / "postgres").is_dir():
        raise RuntimeError(f"the drill's backup {folder} is not on this worker's disk")
    legacy = inp.backup.server is None
    sources = {
        scope: [TableStat.model_validate(s) for s in json.loads(stats_file(folder, scope, legacy).read_text())]
        for scope in server.scopes
    }
    stack = GLOBAL_SCOPE in server.scopes
    scratch = ScratchStack(
        root=folder / "scratch",
        password=_password(urls[server.scopes[0]]),
        namespace=settings.temporal_namespace,
        postgres_only=not stack,
    )
    began = time.monotonic()
    checks: dict[str, Checked] = {}
    try:
        scratch.place(
            folder / "postgres",
            folder / "wal",
            inp.backup.restore_point,
            folder / "dump.rdb" if stack else None,
            folder / "temporal.db" if stack else None,
        )
        await scratch.start()
        beat("scratch stack up")
        for scope, url in urls.items():
            checks[scope] = await check_database(on_scratch(url, scratch), sources[scope], beat, began)
        if stack:
            redis_marker, redis_keys = await _redis_marker(scratch.redis.url)
            replay = Replay(
                *await replay_restored(
                    scratch.temporal.address,
                    scratch.namespace,
                    workflows,
                    codec,
                    inp.max_histories,
                    beat,
                    build_id=settings.build_id,
                )
            )
        rto = time.monotonic() - began
    finally:
        pids = [p.pid for p in scratch.processes if p.pid is not None]
        ports = scratch.ports
        await asyncio.to_thread(scratch.stop)
        scratch.remove()
    reached = all(_lsn(c.lsn) >= _lsn(inp.backup.start_lsn) for c in checks.values())
    # Each store's sign that the restore holds the drill's cut: Postgres recovered to the restore point,
    # Redis holds the marker written just before its snapshot, Temporal holds this drill's own run.
    covered: dict[str, datetime | None] = {"postgres": inp.backup.marker_at if reached else None}
    if stack:
        covered["redis"] = inp.backup.marker_at if _is_marker(redis_marker, inp.drill_id) else None
        covered["temporal"] = replay.started.get(inp.workflow_id)
    problems = [
        f"{store}: the restore holds no sign of this drill's cut" for store, at in covered.items() if at is None
    ]
    return server_report(
        inp,
        server,
        checks,
        problems=problems,
        covered=covered,
        rto=rto,
        replay=replay if stack else None,
        redis_keys=redis_keys if stack else 0,
        scratch=(pids, ports),
    )


def _password(database_url: str) -> str:
    return unquote(urlsplit(database_url).password or "")


async def _redis_marker(url: str) -> tuple[str | None, int]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        marker = await client.get(REDIS_MARKER_KEY)
        return (str(marker) if marker is not None else None), int(await client.dbsize())
    finally:
        await client.aclose()


def _is_marker(marker: str | None, drill_id: str) -> bool:
    return marker is not None and json.loads(marker).get("drill_id") == drill_id


def stats_file(folder: Path, scope: str, legacy: bool) -> Path:
    """The source's numbers of `scope`; a drill from before per-region drills wrote one file for its one."""
    return folder / ("source-stats.json" if legacy else f"source-stats-{scope}.json")


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)
