"""The side effects of `DrDrillWorkflow`: back up the running stack, restore it into a scratch stack and
verify it there, and record the report.

The copies live on the worker's disk (`<data_dir>/dr/<drill id>`), so the backup and the restore must run on
the same machine; with the embedded stack (the only one these copies apply to) every worker is on that machine.
The drill reads and copies as Postgres's superuser (`DATABASE_URL`), the account a base backup needs.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import structlog
from prometheus_client import Counter, Gauge
from temporalio import activity
from temporalio.converter import PayloadCodec

from activities.dr_verify import compare, replay_restored, verify_audit_chains
from contracts.dr import (
    BackupInput,
    BackupResult,
    DrDrillReport,
    RecordReportInput,
    RecordReportResult,
    RestoreVerifyInput,
    TableStat,
)
from contracts.events import EventType
from contracts.names import ACT_DR_BACKUP, ACT_DR_RECORD, ACT_DR_RESTORE_VERIFY
from core.dr.backup import REDIS_MARKER_KEY, WalStream, pg_basebackup, redis_snapshot, sqlite_backup, tree_bytes
from core.dr.pgstats import restored_numbers, source_snapshot
from core.dr.reports import latest_reports as stored_reports
from core.dr.scratch import ScratchStack
from core.events import EventBus
from core.settings import Settings

log = structlog.get_logger("aiaas.dr")
# Drill events go to the platform's operations stream (the `_operations` stream every tenant has too).
PLATFORM = "platform"
OPERATIONS_STREAM = "_operations"

DR_RTO = Gauge("aiaas_dr_drill_rto_seconds", "Seconds from restore start to verified, of the last DR drill")
DR_RPO = Gauge("aiaas_dr_drill_rpo_seconds", "Seconds of writes before the last DR drill its restore lacks")
DR_VERIFIED = Gauge("aiaas_dr_drill_verified", "1 when the last DR drill's restore verified, else 0")
DR_LAST = Gauge("aiaas_dr_drill_last_timestamp_seconds", "When the last DR drill finished (Unix time)")
DR_DRILLS = Counter("aiaas_dr_drills_total", "DR drills finished", ["outcome"])


def _beat(detail: str) -> None:
    activity.heartbeat(detail)


def _password(database_url: str) -> str:
    return unquote(urlsplit(database_url).password or "")


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
            _set_gauges(last[0])

    @property
    def _root(self) -> Path:
        return Path(self._settings.data_dir).expanduser().resolve() / "dr"

    def _database_url(self) -> str:
        if not self._settings.database_url:
            raise RuntimeError("a DR drill needs DATABASE_URL (Postgres's superuser) to take a base backup")
        return self._settings.database_url

    def _temporal_db(self) -> Path:
        return self._settings.dr_temporal_db or (
            Path(self._settings.data_dir).expanduser().resolve() / "temporal" / "temporal.db"
        )

    @activity.defn(name=ACT_DR_BACKUP)
    async def backup(self, inp: BackupInput) -> BackupResult:
        """The base backup while WAL streams into an archive, then one cut of all three stores.

        The cut comes last and fast: a restore point in the archive (with the source's numbers of exactly
        that state), a Redis snapshot and a copy of Temporal's database, side by side. RPO is what a
        disaster at the end of the backup would lose: the age of the oldest of the three copies then, with
        the archive's own lag for Postgres.
        """
        folder = self._root / inp.drill_id
        # A retried attempt starts from nothing: half a base backup is no backup.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        began = time.monotonic()
        url = self._database_url()
        wal = WalStream(url, folder / "wal", folder / "pg_receivewal.log")
        await wal.start()
        try:
            await pg_basebackup(url, folder / "postgres", _beat, folder / "pg_basebackup.log")
            _beat("base backup taken")
            restore_point = f"dr-{inp.drill_id}"
            marker = json.dumps({"drill_id": inp.drill_id})
            (cut_at, lsn, stats), (_keys, redis_at), temporal_at = await asyncio.gather(
                source_snapshot(url, restore_point),
                redis_snapshot(self._settings.redis_url or "", folder / "dump.rdb", marker, _beat),
                asyncio.to_thread(sqlite_backup, self._temporal_db(), folder / "temporal.db"),
            )
            archive_lag = await wal.flushed_to(lsn)
        finally:
            await wal.stop()
        done = time.time()
        (folder / "source-stats.json").write_text(json.dumps([s.model_dump() for s in stats]))
        # When each copy holds its store as of; a disaster at `done` would lose what was written since.
        copies = (cut_at.timestamp(), redis_at, temporal_at)
        seconds = time.monotonic() - began
        size = await asyncio.to_thread(tree_bytes, folder)
        log.info("dr backup taken", drill_id=inp.drill_id, seconds=round(seconds, 2), bytes=size)
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
        )

    @activity.defn(name=ACT_DR_RESTORE_VERIFY)
    async def restore_verify(self, inp: RestoreVerifyInput) -> DrDrillReport:
        folder = Path(inp.backup.backup_dir)
        if not (folder / "postgres").is_dir():
            raise RuntimeError(f"the drill's backup {folder} is not on this worker's disk")
        source = [TableStat.model_validate(s) for s in json.loads((folder / "source-stats.json").read_text())]
        scratch = ScratchStack(
            root=folder / "scratch",
            password=_password(self._database_url()),
            namespace=self._settings.temporal_namespace,
        )
        began = time.monotonic()
        problems: list[str] = []
        try:
            scratch.place(
                folder / "postgres",
                folder / "wal",
                inp.backup.restore_point,
                folder / "dump.rdb",
                folder / "temporal.db",
            )
            await scratch.start()
            _beat("scratch stack up")
            restored_lsn, restored = await restored_numbers(scratch.database_url)
            reached = _lsn(restored_lsn) >= _lsn(inp.backup.start_lsn)
            mismatches = compare(source, restored)
            chains, chain_failures = await verify_audit_chains(scratch.database_url, _beat)
            redis_marker, redis_keys = await _redis_marker(scratch.redis.url)
            replayed, skipped, unreadable, replay_failures, started = await replay_restored(
                scratch.temporal.address,
                scratch.namespace,
                self._workflows,
                self._codec,
                inp.max_histories,
                _beat,
                build_id=self._settings.build_id,
            )
            rto = time.monotonic() - began
        finally:
            pids = [p.pid for p in scratch.processes if p.pid is not None]
            ports = scratch.ports
            await asyncio.to_thread(scratch.stop)
            scratch.remove()
        # Each store's sign that the restore holds the drill's cut: Postgres recovered to the restore point,
        # Redis holds the marker written just before its snapshot, Temporal holds this drill's own run.
        covered: dict[str, datetime | None] = {
            "postgres": inp.backup.marker_at if reached else None,
            "redis": inp.backup.marker_at if _is_marker(redis_marker, inp.drill_id) else None,
            "temporal": started.get(inp.workflow_id),
        }
        for store, at in covered.items():
            if at is None:
                problems.append(f"{store}: the restore holds no sign of this drill's cut")
        rpo = None if problems else inp.backup.rpo_seconds
        # A chain that fails on rows equal to the source's was already broken there: the restore is faithful,
        # and the break is reported apart (an integrity alarm of its own, not a failed recovery).
        faithful = {s.tenant_id for s in source} - {m.tenant_id for m in mismatches}
        at_source = [f for f in chain_failures if f.split(":", 1)[0] in faithful]
        chain_failures = [f for f in chain_failures if f not in at_source]
        verified = not (problems or mismatches or chain_failures or replay_failures)
        return DrDrillReport(
            drill_id=inp.drill_id,
            started_at=inp.started_at,
            finished_at=datetime.now(UTC),
            verified=verified,
            rto_seconds=rto,
            rpo_seconds=rpo,
            backup_seconds=inp.backup.backup_seconds,
            backup_bytes=inp.backup.backup_bytes,
            tables=len({s.table for s in source}),
            tenants=len({s.tenant_id for s in source}),
            rows=sum(s.rows for s in source),
            mismatches=mismatches,
            audit_chains=chains,
            audit_failures=chain_failures,
            audit_broken_at_source=at_source,
            histories_replayed=replayed,
            histories_skipped=skipped,
            histories_unreadable=unreadable,
            replay_failures=replay_failures,
            redis_keys=redis_keys,
            covered_at=covered,
            problems=problems,
            scratch_pids=pids,
            scratch_ports=ports,
        )

    @activity.defn(name=ACT_DR_RECORD)
    async def record(self, inp: RecordReportInput) -> RecordReportResult:
        report = inp.report
        reports = self._root / "reports"
        reports.mkdir(parents=True, exist_ok=True)
        path = reports / f"{report.drill_id}.json"
        path.write_text(report.model_dump_json(indent=2) + "\n")
        if not inp.keep_backup:
            shutil.rmtree(inp.backup_dir, ignore_errors=True)
        _set_gauges(report)
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


def _set_gauges(report: DrDrillReport) -> None:
    DR_RTO.set(report.rto_seconds)
    DR_RPO.set(report.rpo_seconds if report.rpo_seconds is not None else float("nan"))
    DR_VERIFIED.set(1 if report.verified else 0)
    DR_LAST.set(report.finished_at.timestamp())


def latest_reports(root: Path, limit: int) -> list[DrDrillReport]:
    """The newest stored reports under `root` (`<data_dir>/dr`), newest first (`core.dr.reports`)."""
    return stored_reports(root, limit)


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


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)
