"""The Prometheus gauges of the last DR drill: overall, and per database (`region`: `global` for the control
plane, else a configured region, so the label stays bounded)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from contracts.dr import DrDrillReport

DR_RTO = Gauge("aiaas_dr_drill_rto_seconds", "Seconds from restore start to verified, of the last DR drill")
DR_RPO = Gauge("aiaas_dr_drill_rpo_seconds", "Seconds of writes before the last DR drill its restore lacks")
DR_VERIFIED = Gauge("aiaas_dr_drill_verified", "1 when the last DR drill's restore verified, else 0")
DR_LAST = Gauge("aiaas_dr_drill_last_timestamp_seconds", "When the last DR drill finished (Unix time)")
DR_DRILLS = Counter("aiaas_dr_drills_total", "DR drills finished", ["outcome"])
DB_RTO = Gauge(
    "aiaas_dr_drill_database_rto_seconds", "Seconds to restore and verify one database in the last DR drill", ["region"]
)
DB_RPO = Gauge(
    "aiaas_dr_drill_database_rpo_seconds",
    "Seconds of writes one database's restore lacks in the last drill",
    ["region"],
)
DB_VERIFIED = Gauge(
    "aiaas_dr_drill_database_verified", "1 when one database's restore verified in the last DR drill", ["region"]
)


def set_gauges(report: DrDrillReport, regions: set[str]) -> None:
    """Export `report`; per-database series only for `regions` (global and the configured ones)."""
    DR_RTO.set(report.rto_seconds)
    DR_RPO.set(report.rpo_seconds if report.rpo_seconds is not None else float("nan"))
    DR_VERIFIED.set(1 if report.verified else 0)
    DR_LAST.set(report.finished_at.timestamp())
    for database in report.databases:
        if database.scope not in regions:
            continue
        DB_RTO.labels(database.scope).set(database.rto_seconds)
        DB_RPO.labels(database.scope).set(database.rpo_seconds if database.rpo_seconds is not None else float("nan"))
        DB_VERIFIED.labels(database.scope).set(1 if database.verified else 0)
