"""Input, result and activity contracts of `DrDrillWorkflow` (the mechanics: `core.dr`, `activities.dr_drill`).

These types cross the Temporal boundary, so they change by adding fields with defaults only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import Field

from contracts.base import Frozen

DR_SCHEDULE_ID = "platform:dr:drill"
# Prefixed by `platform`: the payload codec encrypts the run under the platform key, not one tenant's.
DR_WORKFLOW_ID_PREFIX = "platform:dr:drill"
# Every Sunday at 03:00 UTC unless `AIAAS_DR_DRILL_CRON` says otherwise.
DEFAULT_DR_CRON = "0 3 * * 0"
# Histories replayed from the restored Temporal at most; a drill names how many it left out.
DEFAULT_MAX_HISTORIES = 2000

# pg_basebackup with WAL, BGSAVE and the SQLite copy: minutes for a large cluster, heartbeats every few seconds.
BACKUP_TIMEOUT = timedelta(minutes=60)
# A scratch stack started on the copies, every check, and the stack stopped again.
RESTORE_VERIFY_TIMEOUT = timedelta(minutes=60)
DR_HEARTBEAT = timedelta(seconds=60)
RECORD_TIMEOUT = timedelta(seconds=30)
PLAN_TIMEOUT = timedelta(seconds=30)
# The scope of the control plane (`DATABASE_URL`) among the regions' databases.
GLOBAL_SCOPE = "global"


class DrDrillInput(Frozen):
    max_histories: int = Field(default=DEFAULT_MAX_HISTORIES, ge=0, le=100_000)
    # Keep the backup copies after the drill (for a look by hand); by default they are deleted.
    keep_backup: bool = False


class DrServer(Frozen):
    """One Postgres server a drill backs up with one base backup, and the databases on it.

    `scopes` are `global` (the control plane) and/or region names; the first names the server. The backup
    goes under `location`, the backup location of the server's first scope (`AIAAS_DR_BACKUP_DIRS`).
    The global server also carries Redis and the Temporal dev server's file."""

    name: str
    scopes: list[str]
    location: str
    # Residency remarks, e.g. a region whose database shares another scope's server (and so its backup).
    notes: list[str] = Field(default_factory=list)
    # Residency violations that fail the drill: a region with a backup location of its own whose database
    # shares a server, so its data would be copied elsewhere (nothing is backed up then).
    refusals: list[str] = Field(default_factory=list)


class DrPlanInput(Frozen):
    drill_id: str


class DrPlan(Frozen):
    servers: list[DrServer]


class BackupInput(Frozen):
    drill_id: str
    started_at: datetime
    # None: the global server with every store, as drills before per-region drills did.
    server: DrServer | None = None


class TableStat(Frozen):
    """One table's rows of one tenant: how many, and an md5 over their text in a fixed order."""

    table: str
    tenant_id: str
    rows: int
    checksum: str


class BackupResult(Frozen):
    drill_id: str
    # The copies: `<dir>/postgres` (a base backup with its WAL), `<dir>/redis/dump.rdb`, `<dir>/temporal.db`;
    # the source's numbers at the marker in `<dir>/source-stats.json` (big data by reference).
    backup_dir: str
    marker_at: datetime
    # The restore point (named in the WAL) and its position: the cut the restore recovers to.
    start_lsn: str
    backup_seconds: float
    backup_bytes: int
    restore_point: str = ""
    # Seconds the WAL archive took to hold the cut (pg_receivewal's lag).
    archive_lag_seconds: float = 0.0
    # How far the oldest of the three copies trails the moment the backup set was complete.
    rpo_seconds: float = 0.0
    server: DrServer | None = None


class RestoreVerifyInput(Frozen):
    drill_id: str
    started_at: datetime
    workflow_id: str
    backup: BackupResult
    max_histories: int = DEFAULT_MAX_HISTORIES


class Mismatch(Frozen):
    table: str
    tenant_id: str
    source_rows: int
    restored_rows: int
    source_checksum: str
    restored_checksum: str


class DatabaseReport(Frozen):
    """One database's part of a drill: `scope` is `global` (the control plane) or a region."""

    scope: str
    # The server (its first scope) whose base backup holds this database, and where that backup lived.
    server: str
    backup_location: str
    verified: bool
    # Seconds from the start of its server's restore to the end of this database's checks.
    rto_seconds: float
    rpo_seconds: float | None
    backup_seconds: float
    backup_bytes: int
    tables: int = 0
    tenants: int = 0
    rows: int = 0
    mismatches: list[Mismatch] = Field(default_factory=list)
    audit_chains: int = 0
    audit_failures: list[str] = Field(default_factory=list)
    audit_broken_at_source: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class DrDrillReport(Frozen):
    drill_id: str
    started_at: datetime
    finished_at: datetime
    verified: bool
    # Seconds from the start of the restore to the end of its verification.
    rto_seconds: float
    # Seconds of writes before the drill's start that the restore lacks (0 when it holds everything up to the
    # start); None when a store showed no sign of the drill's markers.
    rpo_seconds: float | None
    backup_seconds: float
    backup_bytes: int
    tables: int = 0
    tenants: int = 0
    rows: int = 0
    mismatches: list[Mismatch] = Field(default_factory=list)
    audit_chains: int = 0
    audit_failures: list[str] = Field(default_factory=list)
    # Chains that fail on rows identical to the source's: broken before the backup, not by the restore.
    audit_broken_at_source: list[str] = Field(default_factory=list)
    histories_replayed: int = 0
    histories_skipped: int = 0
    # Histories whose payloads no key opens any more (a tenant's shredded keys).
    histories_unreadable: int = 0
    replay_failures: list[str] = Field(default_factory=list)
    redis_keys: int = 0
    # Per store, the newest moment the restore provably holds (postgres, redis, temporal).
    covered_at: dict[str, datetime | None] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    # The scratch stack's processes and ports, all stopped and released when the report is made.
    scratch_pids: list[int] = Field(default_factory=list)
    scratch_ports: list[int] = Field(default_factory=list)
    # Per database (the control plane and every region's), with the overall numbers above; empty in
    # reports of drills before per-region drills.
    databases: list[DatabaseReport] = Field(default_factory=list)
    # Residency remarks that do not fail the drill (see `DrServer.notes`).
    notes: list[str] = Field(default_factory=list)


class RecordReportInput(Frozen):
    report: DrDrillReport
    backup_dir: str
    keep_backup: bool = False
    # Every server's backup folder (the regions' in their own locations); `backup_dir` is the global one.
    backup_dirs: list[str] = Field(default_factory=list)


class RecordReportResult(Frozen):
    path: str
