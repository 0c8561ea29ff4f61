"""`GET /v1/ops/dr/reports[/{id}]` on the running platform: operators read the drills' stored reports.

The reports are written here as the drill's last activity writes them (`<data_dir>/dr/reports/<id>.json`), so
no drill has to run: the drill itself is `tests/e2e/test_dr_drill.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contracts.dr import DatabaseReport, DrDrillReport, Mismatch
from tenancy.jwt import dev_secret, issue_token
from tests.api.helpers import client, error, every_item, fresh_tenant, page, platform_admin
from tests.e2e.platform import Platform

LISTING = "/v1/ops/dr/reports"


def _operator(platform: Platform) -> str:
    return issue_token(dev_secret(platform.data_dir), subject="api-tests-ops", platform_role="platform_operator")


def _report(minutes_ago: int, *, verified: bool) -> DrDrillReport:
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return DrDrillReport(
        drill_id=str(uuid.uuid4()),
        started_at=end - timedelta(seconds=30),
        finished_at=end,
        verified=verified,
        rto_seconds=9.5,
        rpo_seconds=0.7 if verified else None,
        backup_seconds=3.0,
        backup_bytes=1000,
        tenants=2,
        rows=10,
        mismatches=[]
        if verified
        else [
            Mismatch(
                table="t", tenant_id="x", source_rows=2, restored_rows=1, source_checksum="a", restored_checksum="b"
            )
        ],
        problems=[] if verified else ["postgres: rows missing after the restore"],
        databases=[] if verified else [_database("global", True, 0.7), _database("eu-west", False, None)],
    )


def _database(scope: str, verified: bool, rpo: float | None) -> DatabaseReport:
    return DatabaseReport(
        scope=scope,
        server=scope,
        backup_location=f"/backups/{scope}",
        verified=verified,
        rto_seconds=9.5 if verified else 4.0,
        rpo_seconds=rpo,
        backup_seconds=3.0,
        backup_bytes=500,
        tenants=1,
        rows=5,
    )


@pytest.fixture
def stored(platform: Platform) -> Iterator[list[DrDrillReport]]:
    """Three reports (the failed one newest) and a file that does not parse, removed afterwards."""
    folder = Path(platform.data_dir).expanduser().resolve() / "dr" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    reports = [_report(3000, verified=True), _report(2000, verified=True), _report(1000, verified=False)]
    paths = [folder / f"{r.drill_id}.json" for r in reports] + [folder / f"{uuid.uuid4()}.json"]
    for path, report in zip(paths, reports, strict=False):
        path.write_text(report.model_dump_json())
    paths[-1].write_text('{"drill_id": "half a report')
    try:
        yield reports
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def test_operators_list_newest_first_page_and_filter(platform: Platform, stored: list[DrDrillReport]) -> None:
    mine = {r.drill_id for r in stored}
    with client(platform, _operator(platform)) as ops:
        listed = [r for r in every_item(ops, LISTING, limit=1) if r["drill_id"] in mine]
        assert [r["drill_id"] for r in listed] == [r.drill_id for r in reversed(stored)]
        failed = listed[0]
        assert failed["verified"] is False and failed["mismatches"] == 1 and failed["rpo_seconds"] is None
        assert failed["problems"] == ["postgres: rows missing after the restore"]
        # Per database: which region's restore failed, with its own RTO and RPO.
        assert [(d["scope"], d["verified"], d["rto_seconds"], d["rpo_seconds"]) for d in failed["databases"]] == [
            ("global", True, 9.5, 0.7),
            ("eu-west", False, 4.0, None),
        ]
        assert listed[1]["databases"] == []
        only_failed = page(ops.get(LISTING, params={"verified": "false", "limit": 200}))["items"]
        assert stored[2].drill_id in {r["drill_id"] for r in only_failed}
        assert not {r["drill_id"] for r in only_failed} & {stored[0].drill_id, stored[1].drill_id}
        # A cursor is for its filters only, and the page bounds are the listings' own.
        first = page(ops.get(LISTING, params={"limit": 1}))
        assert first["next_cursor"] is not None
        error(
            ops.get(LISTING, params={"limit": 1, "cursor": first["next_cursor"], "verified": "true"}),
            400,
            "invalid_cursor",
        )
        error(ops.get(LISTING, params={"cursor": "garbage"}), 400, "invalid_cursor")
        for limit in (0, 201, "many"):
            error(ops.get(LISTING, params={"limit": limit}), 422, "invalid_request")
        error(ops.get(LISTING, params={"verified": "perhaps"}), 422, "invalid_request")


def test_one_report_has_every_check(platform: Platform, stored: list[DrDrillReport]) -> None:
    with client(platform, _operator(platform)) as ops:
        body = ops.get(f"{LISTING}/{stored[2].drill_id}")
        assert body.status_code == 200, body.text
        assert DrDrillReport.model_validate(body.json()) == stored[2]
        error(ops.get(f"{LISTING}/{uuid.uuid4()}"), 404, "dr_report_not_found")
        for bad in ("not-a-uuid", "..%2F..%2Fstack", "%2E%2E"):
            response = ops.get(f"{LISTING}/{bad}")
            assert response.status_code in (404, 422), response.text
            assert set(response.json()) == {"error"}
    with client(platform, platform_admin(platform)) as admin:
        assert admin.get(f"{LISTING}/{stored[0].drill_id}").status_code == 200


def test_tenant_credentials_are_refused(platform: Platform, api, stored: list[DrDrillReport]) -> None:  # type: ignore[no-untyped-def]
    with fresh_tenant(platform, "Not an operator") as (_tenant_id, owner):
        for caller in (owner, api):
            error(caller.get(LISTING), 403)
            error(caller.get(f"{LISTING}/{stored[0].drill_id}"), 403)
    with client(platform) as anonymous:
        error(anonymous.get(LISTING), 401)
