"""`aiaas dr drill`: run a disaster-recovery drill now, on the platform's workers, and print its report;
`aiaas dr reports`: the stored reports of past drills (scheduled or not), newest first.

The drill runs as `DrDrillWorkflow` on the task queue the workers poll (so `aiaas up` or a worker must be
running); this command starts it, waits, and prints RTO, RPO and every check. Exit code 0 when the restore
verified, 1 when it did not or the drill failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from app.cli_context import add_data_dir, load_settings

# Long enough for a large cluster's backup and restore; the drill keeps running if this command gives up.
WAIT_SECONDS = 3 * 3600


def add_dr_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("dr", help="disaster-recovery drills (docs/operations.md)")
    sub = parser.add_subparsers(dest="dr_command", required=True)
    drill = sub.add_parser("drill", help="back up, restore into a scratch stack, verify, and print RTO and RPO")
    drill.add_argument("--json", action="store_true", help="print the report as JSON")
    drill.add_argument("--keep-backup", action="store_true", help="keep the backup copies under <data_dir>/dr")
    add_data_dir(drill)
    drill.set_defaults(func=_drill)
    reports = sub.add_parser("reports", help="the stored reports of past drills, newest first")
    reports.add_argument("--limit", type=int, default=10, help="how many reports to show (default 10)")
    reports.add_argument("--json", action="store_true", help="print the reports as JSON")
    add_data_dir(reports)
    reports.set_defaults(func=_reports)


def _drill(args: argparse.Namespace) -> int:
    from contracts.dr import DrDrillReport

    settings = load_settings(args.data_dir)
    if not settings.temporal_address:
        raise RuntimeError(f"no Temporal: set TEMPORAL_ADDRESS or start the stack under {settings.data_dir}")
    report: DrDrillReport = asyncio.run(_run(settings, keep_backup=args.keep_backup))
    print(report.model_dump_json(indent=2) if args.json else format_report(report))
    return 0 if report.verified else 1


def _reports(args: argparse.Namespace) -> int:
    from pathlib import Path

    from activities.dr_drill import latest_reports

    if args.limit < 1:
        raise SystemExit("--limit must be at least 1")
    settings = load_settings(args.data_dir)
    found = latest_reports(Path(settings.data_dir).expanduser().resolve() / "dr", args.limit)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in found], indent=2))
    elif not found:
        print(f"no DR drill reports under {settings.data_dir}/dr/reports (run `aiaas dr drill`)")
    for report in [] if args.json else found:
        print(format_report(report))
    return 0


async def _run(settings: Any, *, keep_backup: bool) -> Any:
    import uuid

    from contracts.dr import DR_WORKFLOW_ID_PREFIX, DrDrillInput, DrDrillReport
    from contracts.names import WF_DR_DRILL
    from db.codec import connect

    client = await connect(settings)
    handle = await client.start_workflow(
        WF_DR_DRILL,
        DrDrillInput(keep_backup=keep_backup),
        id=f"{DR_WORKFLOW_ID_PREFIX}-cli-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
        result_type=DrDrillReport,
    )
    print(f"drill {handle.id} started; waiting for the workers to run it")
    return await asyncio.wait_for(handle.result(), WAIT_SECONDS)


def format_report(report: Any) -> str:
    rpo = "unknown" if report.rpo_seconds is None else f"{report.rpo_seconds:.1f} s"
    lines = [
        f"DR drill {report.drill_id}: {'VERIFIED' if report.verified else 'FAILED'}",
        f"  RTO {report.rto_seconds:.1f} s (restore start to verified), RPO {rpo}",
        f"  backup {report.backup_seconds:.1f} s, {report.backup_bytes / 1e6:.1f} MB",
        f"  postgres: {report.rows} rows in {report.tables} tables of {report.tenants} tenants, "
        f"{len(report.mismatches)} mismatches; audit chains {report.audit_chains}, "
        f"{len(report.audit_failures)} failing",
        f"  temporal: {report.histories_replayed} histories replayed, {len(report.replay_failures)} failing, "
        f"{report.histories_skipped} left out",
        f"  redis: {report.redis_keys} keys restored",
    ]
    for d in report.databases:
        d_rpo = "unknown" if d.rpo_seconds is None else f"{d.rpo_seconds:.1f} s"
        lines.append(
            f"  database {d.scope}: {'verified' if d.verified else 'FAILED'}, RTO {d.rto_seconds:.1f} s, RPO {d_rpo}, "
            f"{d.rows} rows of {d.tenants} tenants, backup in {d.backup_location or '(none)'}"
        )
    lines += [f"  note: {n}" for n in report.notes]
    for mismatch in report.mismatches[:20]:
        lines.append(f"  mismatch {json.dumps(mismatch.model_dump())}")
    lines += [f"  problem: {p}" for p in report.problems + report.audit_failures + report.replay_failures[:20]]
    return "\n".join(lines)
