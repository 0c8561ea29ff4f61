"""A DR drill over a regional deployment: the control plane, a region on a Postgres server of its own
(`eu-west`) and a region that is a database on the control plane's server (`us-east`, the embedded layout).

One drill backs up both servers, each into its own backup location (eu-west's is configured apart and holds
nothing of the other databases, and nothing of eu-west lands in the global one), restores both side by side,
and verifies every database where its tenants live; the report and the gauges carry each database's RTO and
RPO and the overall ones.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from app.worker import build_worker
from contracts.dr import DR_WORKFLOW_ID_PREFIX, DrDrillInput, DrDrillReport
from contracts.names import WF_DR_DRILL
from core.settings import Settings
from core.stack.ports import free_port
from core.stack.postgres import EmbeddedPostgres
from db.migrate_regions import migrate_all
from db.regions import open_database
from tenancy.audit import record_event
from tests.residency.conftest import _drop, new_tenant

EVENTS = 3


@pytest.fixture(scope="module")
def scratch_root() -> Iterator[Path]:
    # Not under pytest's tmp root: every pytest session on the machine sets it back to 0700, and the Postgres
    # user must traverse the path whenever one of its tools starts.
    with tempfile.TemporaryDirectory(prefix="aiaas-dr-regions-") as root:
        yield Path(root)


@pytest.fixture(scope="module")
def eu_server(scratch_root: Path) -> Iterator[str]:
    """eu-west's own Postgres server (the stack's embedded one, on other ports)."""
    server = EmbeddedPostgres(data_dir=scratch_root / "eu-server", host="127.0.0.1", port=free_port())
    server.preflight()
    try:
        yield server.start(threading.Event())
    finally:
        server.stop()


@pytest.fixture(scope="module")
def regional(migrated: Settings, eu_server: str, scratch_root: Path, stack_dir: Path) -> Iterator[Settings]:
    us_east = f"aiaas_dr_us_east_{uuid.uuid4().hex[:6]}"
    settings = migrated.model_copy(
        update={
            "region_database_urls": {"eu-west": eu_server, "us-east": us_east},
            "dr_backup_dirs": {"eu-west": scratch_root / "eu-west-backups"},
            "data_dir": scratch_root / "data",
            "task_queue": f"dr-regions-{uuid.uuid4().hex[:8]}",
            "dr_temporal_db": stack_dir / "temporal" / "temporal.db",
        }
    )
    asyncio.run(migrate_all(settings))
    try:
        yield settings
    finally:
        asyncio.run(_drop(migrated.database_url or "", [us_east]))


async def _tenants_with_events(settings: Settings) -> dict[str, str]:
    """A tenant in each region with a few audit events in its region's database."""
    db = open_database(settings, pool_size=2)
    tenants: dict[str, str] = {}
    try:
        for region in ("eu-west", "us-east"):
            tenant_id, _key = await new_tenant(db, settings, region, "Drill")
            async with db.tenant_session(tenant_id) as session:
                for n in range(EVENTS):
                    await record_event(session, tenant_id=tenant_id, actor="test", action="dr.sample", target=str(n))
            tenants[region] = tenant_id
    finally:
        await db.close()
    return tenants


async def _drill(settings: Settings) -> DrDrillReport:
    async with build_worker(settings) as deps, deps.worker:
        report: DrDrillReport = await deps.client.execute_workflow(
            WF_DR_DRILL,
            DrDrillInput(max_histories=5, keep_backup=True),
            id=f"{DR_WORKFLOW_ID_PREFIX}-regions-{uuid.uuid4().hex[:8]}",
            task_queue=settings.task_queue,
            result_type=DrDrillReport,
        )
    return report


def test_one_drill_covers_every_regional_database_and_keeps_backups_in_their_region(
    regional: Settings, scratch_root: Path
) -> None:
    tenants = asyncio.run(_tenants_with_events(regional))
    began = time.monotonic()
    report = asyncio.run(_drill(regional))
    print(
        f"\nregional DR drill: {time.monotonic() - began:.1f} s (worker start too), "
        f"RTO {report.rto_seconds:.1f} s, "
        f"RPO {report.rpo_seconds} s, backup {report.backup_seconds:.1f} s"
    )
    for d in report.databases:
        print(f"  {d.scope}: RTO {d.rto_seconds:.1f} s, RPO {d.rpo_seconds} s, {d.rows} rows, {d.tenants} tenants")

    assert report.verified, report.model_dump_json(indent=2)
    by_scope = {d.scope: d for d in report.databases}
    assert set(by_scope) == {"global", "eu-west", "us-east"}
    assert all(d.verified and d.rpo_seconds is not None and d.rto_seconds > 0 for d in by_scope.values())
    # eu-west is a server of its own; us-east rides in the control plane's base backup, and says so.
    eu, us, control = by_scope["eu-west"], by_scope["us-east"], by_scope["global"]
    assert eu.server == "eu-west" and us.server == "global" and control.server == "global"
    assert us.notes and "shares global's Postgres server" in us.notes[0] and not eu.notes
    # Each region's database holds exactly its one tenant, with its events and its audit chain.
    assert (eu.tenants, eu.audit_chains, us.tenants, us.audit_chains) == (1, 1, 1, 1)
    assert control.tenants >= 2
    assert report.histories_replayed > 0 and report.mismatches == [] and report.problems == []
    # The overall numbers are the worst database's: the servers are restored side by side.
    assert report.rto_seconds == pytest.approx(max(d.rto_seconds for d in report.databases), abs=60)
    assert report.rpo_seconds == max(d.rpo_seconds or 0.0 for d in report.databases)
    assert report.covered_at["postgres:eu-west"] is not None

    # Residency of backups: eu-west's copies in its own location, none of its numbers in the global one.
    eu_folder = scratch_root / "eu-west-backups" / report.drill_id
    global_folder = scratch_root / "data" / "dr" / report.drill_id
    assert Path(eu.backup_location) == (scratch_root / "eu-west-backups").resolve()
    assert sorted(p.name for p in eu_folder.glob("source-stats-*")) == ["source-stats-eu-west.json"]
    assert (eu_folder / "wal").is_dir() and (eu_folder / "pg_basebackup.log").is_file()
    assert sorted(p.name for p in global_folder.glob("source-stats-*")) == [
        "source-stats-global.json",
        "source-stats-us-east.json",
    ]
    assert tenants["eu-west"] in (eu_folder / "source-stats-eu-west.json").read_text()
    assert tenants["eu-west"] not in (global_folder / "source-stats-us-east.json").read_text()
    assert not (scratch_root / "data" / "dr" / "regions").exists()

    for region in ("global", "eu-west", "us-east"):
        assert REGISTRY.get_sample_value("aiaas_dr_drill_database_verified", {"region": region}) == 1
    assert REGISTRY.get_sample_value("aiaas_dr_drill_database_rto_seconds", {"region": "eu-west"}) == eu.rto_seconds
    assert REGISTRY.get_sample_value("aiaas_dr_drill_rpo_seconds") == report.rpo_seconds
