"""The side effects of `DrDrillWorkflow`: plan the servers, back each up, restore each into a scratch stack
and verify it there (`activities.dr_restore`), and record the report.

A drill covers the control plane's Postgres server (`global`, with Redis and the Temporal dev server) and
every region's (`activities.dr_plan`); each server's copies live in its own backup location, on the worker's
disk, so a server's backup and restore must run on the same machine; with the embedded stack (the only one
these copies apply to) every worker is on that machine. The drill reads and copies as Postgres's superuser
(`DATABASE_URL`, and each region's URL), the account a base backup needs.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.converter import PayloadCodec

from activities.dr_gauges import DR_DRILLS, set_gauges
from activities.dr_plan import location, plan, scope_urls
from activities.dr_restore import beat, restore_and_verify, stats_file
from contracts.dr import (
    GLOBAL_SCOPE,
    BackupInput,
    BackupResult,
    DrDrillReport,
    DrPlan,
    DrPlanInput,
    DrServer,
    RecordReportInput,
    RecordReportResult,
    RestoreVerifyInput,
)
from contracts.events import EventType
from contracts.names import ACT_DR_BACKUP, ACT_DR_PLAN, ACT_DR_RECORD, ACT_DR_RESTORE_VERIFY
from core.dr.backup import WalStream, pg_basebackup, redis_snapshot, sqlite_backup, tree_bytes
from core.dr.pgstats import server_snapshot
from core.dr.reports import latest_reports as stored_reports
from core.events import EventBus
from core.settings import Settings

log = structlog.get_logger("aiaas.dr")
# Drill events go to the platform's operations stream (the `_operations` stream every tenant has too).
PLATFORM = "platform"
OPERATIONS_STREAM = "_operations"


class DrDrillActivities:
    def __init__(
        self, settings: Settings, workflows: Sequence[type], codec: PayloadCodec | None, bus: EventBus
    ) -> None:
        self._settings = settings
        self._workflows = list(workflows)
        self._codec = codec
        self._bus = bus
        # A restarted worker exports the last stored drill again, so the alert rules keep seeing it.
        last = latest_reports(self._root, 1)
        if last:
            set_gauges(last[0], self._scopes())

    @property
    def _root(self) -> Path:
        """Where the reports live (`<data_dir>/dr/reports`, which the gateway and the CLI read)."""
        return Path(self._settings.data_dir).expanduser().resolve() / "dr"

    def _scopes(self) -> set[str]:
        return {GLOBAL_SCOPE, *self._settings.region_database_urls}

    def _temporal_db(self) -> Path:
        return self._settings.dr_temporal_db or (
            Path(self._settings.data_dir).expanduser().resolve() / "temporal" / "temporal.db"
        )

    def _urls(self, server: DrServer) -> dict[str, str]:
        urls = scope_urls(self._settings)
        gone = [scope for scope in server.scopes if scope not in urls]
        if gone:
            raise RuntimeError(f"no database configured for {', '.join(gone)} any more")
        return {scope: urls[scope] for scope in server.scopes}

    def _legacy(self) -> DrServer:
        """The server of a drill started before per-region drills: the control plane's, with every store."""
        return DrServer(name=GLOBAL_SCOPE, scopes=[GLOBAL_SCOPE], location=str(location(self._settings, GLOBAL_SCOPE)))

    @activity.defn(name=ACT_DR_PLAN)
    async def plan(self, inp: DrPlanInput) -> DrPlan:
        planned = plan(self._settings)
        log.info("dr drill planned", drill_id=inp.drill_id, servers=[s.scopes for s in planned.servers])
        return planned

    @activity.defn(name=ACT_DR_BACKUP)
    async def backup(self, inp: BackupInput) -> BackupResult:
        """One server's base backup while WAL streams into an archive, then one cut of its stores.

        The cut comes last and fast: a restore point in the archive (with the numbers of exactly that state
        of every database on the server) and, for the global server, a Redis snapshot and a copy of
        Temporal's database, side by side. RPO is what a disaster at the end of the backup would lose: the
        age of the oldest copy then, with the archive's own lag for Postgres. The copies go to the server's
        backup location, so a region's backup stays in that region's location.
        """
        server = inp.server or self._legacy()
        urls = self._urls(server)
        folder = Path(server.location) / inp.drill_id
        # A retried attempt starts from nothing: half a base backup is no backup.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        began = time.monotonic()
        url = urls[server.scopes[0]]
        stack = GLOBAL_SCOPE in server.scopes
        wal = WalStream(url, folder / "wal", folder / "pg_receivewal.log")
        await wal.start()
        try:
            await pg_basebackup(url, folder / "postgres", beat, folder / "pg_basebackup.log")
            beat("base backup taken")
            restore_point = f"dr-{inp.drill_id}"
            marker = json.dumps({"drill_id": inp.drill_id})
            cut = server_snapshot(urls, restore_point)
            if stack:
                (cut_at, lsn, stats), (_keys, redis_at), temporal_at = await asyncio.gather(
                    cut,
                    redis_snapshot(self._settings.redis_url or "", folder / "dump.rdb", marker, beat),
                    asyncio.to_thread(sqlite_backup, self._temporal_db(), folder / "temporal.db"),
                )
                copies: tuple[float, ...] = (cut_at.timestamp(), redis_at, temporal_at)
            else:
                cut_at, lsn, stats = await cut
                copies = (cut_at.timestamp(),)
            archive_lag = await wal.flushed_to(lsn)
        finally:
            await wal.stop()
        # When each copy holds its store as of; a disaster at `done` would lose what was written since.
        done = time.time()
        for scope, numbers in stats.items():
            stats_file(folder, scope, inp.server is None).write_text(json.dumps([s.model_dump() for s in numbers]))
        seconds = time.monotonic() - began
        size = await asyncio.to_thread(tree_bytes, folder)
        log.info("dr backup taken", drill_id=inp.drill_id, server=server.name, seconds=round(seconds, 2), bytes=size)
        return BackupResult(
            drill_id=inp.drill_id,
            backup_dir=str(folder),
            marker_at=cut_at,
            start_lsn=lsn,
            restore_point=restore_point,
            backup_seconds=seconds,
            backup_bytes=size,
            archive_lag_seconds=archive_lag,
            # The cut's own span: how far the oldest copy trails the moment the set was complete.
            rpo_seconds=max(0.0, done - min(copies)),
            server=inp.server,
        )

    @activity.defn(name=ACT_DR_RESTORE_VERIFY)
    async def restore_verify(self, inp: RestoreVerifyInput) -> DrDrillReport:
        """One server's copies restored on other ports (with Redis and Temporal for the global server), and
        every database on it checked against its source numbers; the scratch stack stopped and removed."""
        server = inp.backup.server or self._legacy()
        return await restore_and_verify(self._settings, self._workflows, self._codec, inp, server, self._urls(server))

    @activity.defn(name=ACT_DR_RECORD)
    async def record(self, inp: RecordReportInput) -> RecordReportResult:
        report = inp.report
        reports = self._root / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        path = reports / f"{report.drill_id}.json"
        path.write_text(report.model_dump_json(indent=2) + "\n")
        if not inp.keep_backup:
            shutil.rmtree(inp.backup_dir, ignore_errors=True)
        set_gauges(report, self._scopes())
        for folder in inp.backup_dirs:
            if not inp.keep_backup:
                shutil.rmtree(folder, ignore_errors=True)
        DR_DRILLS.labels(outcome="verified" if report.verified else "failed").inc()
        summary = {
            "drill_id": report.drill_id,
            "verified": report.verified,
            "rto_seconds": round(report.rto_seconds, 2),
            "rpo_seconds": report.rpo_seconds,
            "mismatches": len(report.mismatches),
            "problems": (report.problems + report.audit_failures + report.replay_failures)[:10],
        }
        kind = EventType.DR_DRILL_FINISHED if report.verified else EventType.DR_DRILL_FAILED
        await self._bus.publish(PLATFORM, OPERATIONS_STREAM, kind, summary, dedup_key=f"dr:{report.drill_id}")
        event = log.info if report.verified else log.error
        event(
            "dr drill finished",
            drill_id=report.drill_id,
            verified=report.verified,
            rto_seconds=round(report.rto_seconds, 2),
            rpo_seconds=report.rpo_seconds,
            mismatches=len(report.mismatches),
        )
        return RecordReportResult(path=str(path))


def latest_reports(root: Path, limit: int) -> list[DrDrillReport]:
    """The newest stored reports under `root` (`<data_dir>/dr`), newest first (`core.dr.reports`)."""
    return stored_reports(root, limit)
