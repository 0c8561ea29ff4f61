"""One restored server's checks, database by database, and the server's part of the drill's report.

Every database on the server (`global`, the control plane, and/or regions) is checked in the restored copy
where that database's tenants live: per-tenant row counts and checksums against the source's numbers at the
cut, and every tenant's audit chain (`activities.dr_verify`). Each database gets its own RTO (from the start
of its server's restore to the end of its checks; the global one's includes the replay of every restored
history) and RPO (its server's cut).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import make_url

from activities.dr_verify import Beat, compare, verify_audit_chains
from contracts.dr import GLOBAL_SCOPE, DatabaseReport, DrDrillReport, DrServer, Mismatch, RestoreVerifyInput, TableStat
from core.dr.pgstats import restored_numbers
from core.dr.scratch import ScratchStack


@dataclass(frozen=True)
class Checked:
    source: list[TableStat]
    lsn: str
    mismatches: list[Mismatch]
    chains: int
    chain_failures: list[str]
    # Seconds from the server's restore start to the end of this database's checks.
    seconds: float


@dataclass(frozen=True)
class Replay:
    replayed: int
    skipped: int
    unreadable: int
    failures: list[str]
    started: dict[str, datetime] = field(default_factory=dict)


def on_scratch(url: str, scratch: ScratchStack) -> str:
    """`url`'s database, with its credentials, on the restored copy of its server."""
    return (
        make_url(url).set(host=scratch.postgres.host, port=scratch.postgres.port).render_as_string(hide_password=False)
    )


async def check_database(url: str, source: Sequence[TableStat], beat: Beat, began: float) -> Checked:
    lsn, restored = await restored_numbers(url)
    mismatches = compare(source, restored)
    chains, failures = await verify_audit_chains(url, beat)
    return Checked(list(source), lsn, mismatches, chains, failures, time.monotonic() - began)


def _database(
    scope: str,
    server: DrServer,
    inp: RestoreVerifyInput,
    checked: Checked,
    rto: float,
    rpo: float | None,
    problems: list[str],
) -> DatabaseReport:
    # A chain that fails on rows equal to the source's was already broken there: the restore is faithful,
    # and the break is reported apart (an integrity alarm of its own, not a failed recovery).
    faithful = {s.tenant_id for s in checked.source} - {m.tenant_id for m in checked.mismatches}
    at_source = [f for f in checked.chain_failures if f.split(":", 1)[0] in faithful]
    failures = [f for f in checked.chain_failures if f not in at_source]
    return DatabaseReport(
        scope=scope,
        server=server.name,
        backup_location=server.location,
        verified=not (problems or checked.mismatches or failures),
        rto_seconds=rto,
        rpo_seconds=rpo,
        backup_seconds=inp.backup.backup_seconds,
        backup_bytes=inp.backup.backup_bytes,
        tables=len({s.table for s in checked.source}),
        tenants=len({s.tenant_id for s in checked.source}),
        rows=sum(s.rows for s in checked.source),
        mismatches=checked.mismatches,
        audit_chains=checked.chains,
        audit_failures=failures,
        audit_broken_at_source=at_source,
        problems=problems,
        notes=[n for n in server.notes if n.split(":", 1)[0] == scope],
    )


def server_report(
    inp: RestoreVerifyInput,
    server: DrServer,
    checks: dict[str, Checked],
    *,
    problems: list[str],
    covered: dict[str, datetime | None],
    rto: float,
    replay: Replay | None,
    redis_keys: int,
    scratch: tuple[list[int], list[int]],
) -> DrDrillReport:
    """The server's report: its databases, and (for the global server) the replay and the other stores."""
    rpo = None if problems else inp.backup.rpo_seconds
    databases = [
        _database(
            scope,
            server,
            inp,
            checked,
            rto if scope == GLOBAL_SCOPE else checked.seconds,
            rpo,
            # The stack's stores fail the global database's part; Postgres's own cut fails every database.
            problems if scope == GLOBAL_SCOPE else [p for p in problems if p.startswith("postgres")],
        )
        for scope, checked in checks.items()
    ]
    replay = replay or Replay(0, 0, 0, [])
    source = [s for c in checks.values() for s in c.source]
    return DrDrillReport(
        drill_id=inp.drill_id,
        started_at=inp.started_at,
        finished_at=datetime.now(UTC),
        verified=all(d.verified for d in databases) and not problems and not replay.failures,
        rto_seconds=rto,
        rpo_seconds=rpo,
        backup_seconds=inp.backup.backup_seconds,
        backup_bytes=inp.backup.backup_bytes,
        tables=len({s.table for s in source}),
        tenants=len({s.tenant_id for s in source}),
        rows=sum(s.rows for s in source),
        mismatches=[m for d in databases for m in d.mismatches],
        audit_chains=sum(d.audit_chains for d in databases),
        audit_failures=[f for d in databases for f in d.audit_failures],
        audit_broken_at_source=[f for d in databases for f in d.audit_broken_at_source],
        histories_replayed=replay.replayed,
        histories_skipped=replay.skipped,
        histories_unreadable=replay.unreadable,
        replay_failures=replay.failures,
        redis_keys=redis_keys,
        covered_at=covered,
        problems=problems,
        scratch_pids=scratch[0],
        scratch_ports=scratch[1],
        databases=databases,
        notes=list(server.notes),
    )
