"""`DrDrillWorkflow`: back up the running stack, restore it into a scratch stack, verify it, report RTO and RPO.

Started weekly by the Temporal Schedule `platform:dr:drill` (`app/dr_schedule.py`) or on demand
(`aiaas dr drill`). Three activities: `dr.backup` (Postgres base backup with streamed WAL, Redis BGSAVE, the
Temporal dev server's SQLite file, and the source's per-tenant numbers), `dr.restore_verify` (the copies
restored on other ports, every check, the scratch stack torn down), `dr.record` (the stored report and the
Prometheus gauges). The drill's start is the workflow's start time; the result is the report, verified or not:
a drill whose restore fails verification is a finished drill with `verified=False`, recorded and alerted on,
while a drill that could not run at all fails (and `aiaas_dr_drill_last_timestamp_seconds` goes stale).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.dr import (
        BACKUP_TIMEOUT,
        DR_HEARTBEAT,
        RECORD_TIMEOUT,
        RESTORE_VERIFY_TIMEOUT,
        BackupInput,
        BackupResult,
        DrDrillInput,
        DrDrillReport,
        RecordReportInput,
        RecordReportResult,
        RestoreVerifyInput,
    )
    from contracts.names import ACT_DR_BACKUP, ACT_DR_RECORD, ACT_DR_RESTORE_VERIFY, WF_DR_DRILL
    from contracts.retry import DR_RETRY


@workflow.defn(name=WF_DR_DRILL)
class DrDrillWorkflow:
    @workflow.run
    async def run(self, inp: DrDrillInput) -> DrDrillReport:
        info = workflow.info()
        started_at = info.start_time
        # The run id is unique per run, and a path-safe name for the drill's files.
        drill_id = info.run_id
        workflow.set_current_details("**DR drill**: backing up")
        backup = await workflow.execute_activity(
            ACT_DR_BACKUP,
            BackupInput(drill_id=drill_id, started_at=started_at),
            result_type=BackupResult,
            start_to_close_timeout=BACKUP_TIMEOUT,
            heartbeat_timeout=DR_HEARTBEAT,
            retry_policy=DR_RETRY,
        )
        workflow.set_current_details("**DR drill**: restoring and verifying")
        report = await workflow.execute_activity(
            ACT_DR_RESTORE_VERIFY,
            RestoreVerifyInput(
                drill_id=drill_id,
                started_at=started_at,
                workflow_id=info.workflow_id,
                backup=backup,
                max_histories=inp.max_histories,
            ),
            result_type=DrDrillReport,
            start_to_close_timeout=RESTORE_VERIFY_TIMEOUT,
            heartbeat_timeout=DR_HEARTBEAT,
            retry_policy=DR_RETRY,
        )
        await workflow.execute_activity(
            ACT_DR_RECORD,
            RecordReportInput(report=report, backup_dir=backup.backup_dir, keep_backup=inp.keep_backup),
            result_type=RecordReportResult,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=DR_RETRY,
        )
        verdict = "verified" if report.verified else "FAILED"
        rpo = "unknown" if report.rpo_seconds is None else f"{report.rpo_seconds:.1f} s"
        workflow.set_current_details(f"**DR drill** {verdict}: RTO {report.rto_seconds:.1f} s, RPO {rpo}")
        return report
