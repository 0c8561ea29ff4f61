"""What a drill's verdict does: the checks name every difference, and a drill that did not verify is
recorded, exported (the alert rule's input) and announced as `dr.drill.failed` on the operations stream;
a restarted worker exports the last stored report again."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from activities.dr_drill import OPERATIONS_STREAM, PLATFORM, DrDrillActivities, latest_reports
from activities.dr_verify import compare
from app.cli import main as cli_main
from contracts.dr import DrDrillReport, RecordReportInput, TableStat
from contracts.events import EventType
from core.events import EventBus
from core.settings import Settings


def _stat(table: str, tenant: str, rows: int, checksum: str) -> TableStat:
    return TableStat(table=table, tenant_id=tenant, rows=rows, checksum=checksum)


def test_compare_names_changed_missing_and_extra_rows_per_table_and_tenant() -> None:
    source = [
        _stat("public.messages", "a", 3, "x"),
        _stat("public.messages", "b", 2, "y"),
        _stat("audit.events", "a", 1, "z"),
    ]
    restored = [
        _stat("public.messages", "a", 3, "x"),
        _stat("public.messages", "b", 2, "CHANGED"),
        _stat("public.orders", "c", 1, "w"),
    ]
    found = {(m.table, m.tenant_id): (m.source_rows, m.restored_rows) for m in compare(source, restored)}
    assert found == {("public.messages", "b"): (2, 2), ("audit.events", "a"): (1, 0), ("public.orders", "c"): (0, 1)}
    assert compare(source, list(reversed(source))) == []


def _report(drill_id: str, *, verified: bool) -> DrDrillReport:
    now = datetime.now(UTC)
    return DrDrillReport(
        drill_id=drill_id,
        started_at=now,
        finished_at=now,
        verified=verified,
        rto_seconds=42.0,
        rpo_seconds=None if not verified else 1.5,
        backup_seconds=3.0,
        backup_bytes=1000,
        problems=[] if verified else ["redis: the restore holds no sign of this drill's cut"],
    )


async def test_a_failed_drill_is_stored_exported_and_announced(settings: Settings, tmp_path: Path) -> None:
    redis = Redis.from_url(settings.redis_url or "")
    bus = EventBus(redis)
    drill_settings = settings.model_copy(update={"data_dir": tmp_path})
    try:
        activities = DrDrillActivities(drill_settings, [], None, bus)
        backup = tmp_path / "dr" / "copies"
        backup.mkdir(parents=True)
        drill_id = str(uuid.uuid4())
        recorded = await activities.record(
            RecordReportInput(report=_report(drill_id, verified=False), backup_dir=str(backup))
        )
        events = await bus.history(PLATFORM, OPERATIONS_STREAM)
    finally:
        await redis.aclose()

    assert json.loads(Path(recorded.path).read_text())["verified"] is False
    assert not backup.exists()
    assert REGISTRY.get_sample_value("aiaas_dr_drill_verified") == 0
    assert REGISTRY.get_sample_value("aiaas_dr_drill_rto_seconds") == 42.0
    mine = [e for e in events if e.data.get("drill_id") == drill_id]
    assert [e.type for e in mine] == [EventType.DR_DRILL_FAILED]
    assert mine[0].data["problems"] == ["redis: the restore holds no sign of this drill's cut"]

    # A later good drill is the newest report; a new worker process exports it again from the file.
    good = _report(str(uuid.uuid4()), verified=True)
    reports = tmp_path / "dr" / "reports"
    (reports / f"{good.drill_id}.json").write_text(good.model_dump_json())
    assert [r.drill_id for r in latest_reports(tmp_path / "dr", 5)] == [good.drill_id, drill_id]
    DrDrillActivities(drill_settings, [], None, bus)
    assert REGISTRY.get_sample_value("aiaas_dr_drill_verified") == 1


def test_the_reports_command_prints_the_newest_first(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    reports = tmp_path / "dr" / "reports"
    reports.mkdir(parents=True)
    for verified in (False, True):
        report = _report(str(uuid.uuid4()), verified=verified)
        (reports / f"{report.drill_id}.json").write_text(report.model_dump_json())
    assert cli_main(["dr", "reports", "--data-dir", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert len(printed) == 2
    assert cli_main(["dr", "reports", "--data-dir", str(tmp_path), "--limit", "1"]) == 0
    assert "DR drill" in capsys.readouterr().out
