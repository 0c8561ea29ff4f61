"""The stored reports of DR drills: one JSON file per drill under `<data_dir>/dr/reports/<drill id>.json`.

The drill's last activity writes them (`activities.dr_drill`); `aiaas dr reports` and the operators' API
(`GET /v1/ops/dr/reports`) read them here. A file that does not parse (a disk filled mid-write, a hand edit)
is skipped with a warning rather than hiding every other report.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import structlog
from pydantic import ValidationError

from contracts.dr import DrDrillReport

log = structlog.get_logger(__name__)

REPORTS_DIR = "reports"


def reports_dir(dr_root: Path) -> Path:
    """Where the reports of the drills under `dr_root` (`<data_dir>/dr`) are kept."""
    return dr_root / REPORTS_DIR


def _load(path: Path) -> DrDrillReport | None:
    try:
        return DrDrillReport.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError) as exc:
        log.warning("dr report unreadable", file=path.name, error=type(exc).__name__)
        return None


def all_reports(dr_root: Path) -> list[DrDrillReport]:
    """Every readable report, newest first (by the drill's end, then its id)."""
    folder = reports_dir(dr_root)
    if not folder.is_dir():
        return []
    found = [r for p in folder.glob("*.json") if (r := _load(p)) is not None]
    return sorted(found, key=lambda r: (r.finished_at, r.drill_id), reverse=True)


def latest_reports(dr_root: Path, limit: int) -> list[DrDrillReport]:
    """The newest `limit` reports, newest first."""
    return all_reports(dr_root)[:limit]


def one_report(dr_root: Path, drill_id: uuid.UUID) -> DrDrillReport | None:
    """The report of one drill, or None. The id is a UUID, so the file name cannot leave the folder."""
    path = reports_dir(dr_root) / f"{drill_id}.json"
    return _load(path) if path.is_file() else None
