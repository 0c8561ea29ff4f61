"""The drill's report out of its servers' reports: the overall RTO is the slowest server's (they restore side
by side), the RPO the worst database's (unknown if any is), and a region the plan refused fails the drill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.dr import DatabaseReport, DrDrillReport, DrPlan, DrServer
from workflows.dr_combine import combine

START = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)


def _part(server: str, scopes: dict[str, float | None], rto: float) -> DrDrillReport:
    databases = [
        DatabaseReport(
            scope=scope,
            server=server,
            backup_location=f"/b/{server}",
            verified=True,
            rto_seconds=rto,
            rpo_seconds=rpo,
            backup_seconds=2.0,
            backup_bytes=10,
            tables=3,
            tenants=2,
            rows=7,
        )
        for scope, rpo in scopes.items()
    ]
    return DrDrillReport(
        drill_id="d",
        started_at=START,
        finished_at=START + timedelta(seconds=rto),
        verified=True,
        rto_seconds=rto,
        rpo_seconds=max((r for r in scopes.values() if r is not None), default=None),
        backup_seconds=2.0,
        backup_bytes=10,
        histories_replayed=5 if server == "global" else 0,
        covered_at={"postgres": START},
        databases=databases,
    )


def _plan(refusals: list[str]) -> DrPlan:
    return DrPlan(
        servers=[
            DrServer(name="global", scopes=["global"], location="/b/global", refusals=refusals),
            DrServer(name="eu-west", scopes=["eu-west"], location="/b/eu-west"),
        ]
    )


def test_overall_numbers_are_the_worst_databases() -> None:
    report = combine(_plan([]), [_part("global", {"global": 0.5}, 12.0), _part("eu-west", {"eu-west": 1.5}, 4.0)])
    assert report.verified and report.rto_seconds == 12.0 and report.rpo_seconds == 1.5
    assert [d.scope for d in report.databases] == ["global", "eu-west"]
    assert report.rows == 14 and report.backup_bytes == 20 and report.histories_replayed == 5
    assert set(report.covered_at) == {"postgres", "postgres:eu-west"}
    assert report.finished_at == START + timedelta(seconds=12)


def test_an_unknown_rpo_or_a_refused_region_fails_the_overall_numbers() -> None:
    unknown = combine(_plan([]), [_part("global", {"global": 0.5}, 1.0), _part("eu-west", {"eu-west": None}, 1.0)])
    assert unknown.rpo_seconds is None
    refused = combine(
        _plan(["us-east: its database shares global's Postgres server"]),
        [_part("global", {"global": 0.5}, 1.0), _part("eu-west", {"eu-west": 0.2}, 1.0)],
    )
    assert not refused.verified
    assert refused.databases[-1].scope == "us-east" and not refused.databases[-1].verified
    assert refused.problems == ["not backed up: us-east: its database shares global's Postgres server"]
