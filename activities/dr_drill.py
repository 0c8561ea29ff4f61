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
from contracts.names import ACT_DR_BACKUP, ACT_DR_RECORD, ACT_DR_RESTORE_VERIFY
from core.dr.backup import REDIS_MARKER_KEY, pg_basebackup, redis_snapshot, sqlite_backup, tree_bytes
from core.dr.pgstats import restored_numbers, source_snapshot
from core.dr.scratch import ScratchStack
from core.settings import Settings

log = structlog.get_logger("aiaas.dr")

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
    def __init__(self, settings: Settings, workflows: Sequence[type], codec: PayloadCodec | None) -> None:
        self._settings = settings
        self._workflows = list(workflows)
        self._codec = codec

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
        folder = self._root / inp.drill_id
        # A retried attempt starts from nothing: half a base backup is no backup.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        began = time.monotonic()
        url = self._database_url()
        marker_at, start_lsn, stats = await source_snapshot(url)
        (folder / "source-stats.json").write_text(json.dumps([s.model_dump() for s in stats]))
        _beat("source numbers")
        marker = json.dumps({"drill_id": inp.drill_id, "at": marker_at.isoformat()})
        await asyncio.gather(
            pg_basebackup(url, folder / "postgres", _beat, folder / "pg_basebackup.log"),
            redis_snapshot(self._settings.redis_url or "", folder / "dump.rdb", marker, _beat),
            asyncio.to_thread(sqlite_backup, self._temporal_db(), folder / "temporal.db"),
        )
        seconds = time.monotonic() - began
        size = await asyncio.to_thread(tree_bytes, folder)
        log.info("dr backup taken", drill_id=inp.drill_id, seconds=round(seconds, 2), bytes=size)
        return BackupResult(
            drill_id=inp.drill_id,
            backup_dir=str(folder),
            marker_at=marker_at,
            start_lsn=start_lsn,
            backup_seconds=seconds,
            backup_bytes=size,
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
            scratch.place(folder / "postgres", folder / "dump.rdb", folder / "temporal.db")
            await scratch.start()
            _beat("scratch stack up")
            reached, restored = await restored_numbers(scratch.database_url, inp.backup.marker_at, inp.backup.start_lsn)
            mismatches = compare(source, restored)
            chains, chain_failures = await verify_audit_chains(scratch.database_url, _beat)
            redis_marker, redis_keys = await _redis_marker(scratch.redis.url)
            replayed, skipped, unreadable, replay_failures, started = await replay_restored(
                scratch.temporal.address, scratch.namespace, self._workflows, self._codec, inp.max_histories, _beat
            )
            rto = time.monotonic() - began
        finally:
            pids = [p.pid for p in scratch.processes if p.pid is not None]
            ports = scratch.ports
            await asyncio.to_thread(scratch.stop)
            scratch.remove()
        covered: dict[str, datetime | None] = {
            "postgres": inp.backup.marker_at if reached else None,
            "redis": _marker_time(redis_marker, inp.drill_id),
            "temporal": started.get(inp.workflow_id),
        }
        for store, at in covered.items():
            if at is None:
                problems.append(f"{store}: the restore holds no sign of this drill's start")
        present = [at for at in covered.values() if at is not None]
        rpo = None if len(present) < len(covered) else max(0.0, (inp.started_at - min(present)).total_seconds())
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
        DR_RTO.set(report.rto_seconds)
        DR_RPO.set(report.rpo_seconds if report.rpo_seconds is not None else float("nan"))
        DR_VERIFIED.set(1 if report.verified else 0)
        DR_LAST.set(report.finished_at.timestamp())
        DR_DRILLS.labels(outcome="verified" if report.verified else "failed").inc()
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


async def _redis_marker(url: str) -> tuple[str | None, int]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        marker = await client.get(REDIS_MARKER_KEY)
        return (str(marker) if marker is not None else None), int(await client.dbsize())
    finally:
        await client.aclose()


def _marker_time(marker: str | None, drill_id: str) -> datetime | None:
    if marker is None:
        return None
    data = json.loads(marker)
    return datetime.fromisoformat(data["at"]) if data.get("drill_id") == drill_id else None
