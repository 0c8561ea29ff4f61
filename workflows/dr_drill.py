"""`DrDrillWorkflow`: back up the running stack, restore it into a scratch stack, verify it, report RTO and RPO.

Started weekly by the Temporal Schedule `platform:dr:drill` (`app/dr_schedule.py`) or on demand
(`aiaas dr drill`). `dr.plan` names the Postgres servers to cover: the control plane's (`global`) and every
region's database (`AIAAS_REGION_DATABASE_URLS`), each with its backup location. Then, for every server side
by side: `dr.backup` (its base backup with streamed WAL and the per-tenant numbers of every database on it; for
the global server also Redis's BGSAVE and the Temporal dev server's SQLite file), `dr.restore_verify` (the
copies restored on other ports, every check per database, the scratch stack torn down); the servers' reports
make one (`workflows.dr_combine`: per database and overall RTO and RPO) and `dr.record` stores it and sets the
Prometheus gauges. Runs started before per-region drills (no `dr-regions` marker) keep their one-server path.
The drill's start is the workflow's start time; the result is the report, verified or not:
a drill whose restore fails verification is a finished drill with `verified=False`, recorded and alerted on,
while a drill that could not run at all fails (and `aiaas_dr_drill_last_timestamp_seconds` goes stale).
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.dr import (
        BACKUP_TIMEOUT,
        DR_HEARTBEAT,
        PLAN_TIMEOUT,
        RECORD_TIMEOUT,
        RESTORE_VERIFY_TIMEOUT,
        BackupInput,
        BackupResult,
        DrDrillInput,
        DrDrillReport,
        DrPlan,
        DrPlanInput,
        RecordReportInput,
        RecordReportResult,
        RestoreVerifyInput,
    )
    from contracts.names import ACT_DR_BACKUP, ACT_DR_PLAN, ACT_DR_RECORD, ACT_DR_RESTORE_VERIFY, WF_DR_DRILL
    from contracts.retry import DR_RETRY
    from workflows.dr_combine import combine

# Drills that cover every regional database: a plan, then every server backed up and restored side by side.
REGIONS_PATCH = "dr-regions"


@workflow.defn(name=WF_DR_DRILL)
class DrDrillWorkflow:
    @workflow.run
    async def run(self, inp: DrDrillInput) -> DrDrillReport:
        info = workflow.info()
        started_at = info.start_time
        # The run id is unique per run, and a path-safe name for the drill's files.
        drill_id = info.run_id
        if workflow.patched(REGIONS_PATCH):
            report = await self._every_server(inp, drill_id)
            return self._done(report)
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
        return self._done(report)

    async def _every_server(self, inp: DrDrillInput, drill_id: str) -> DrDrillReport:
        info = workflow.info()
        plan = await workflow.execute_activity(
            ACT_DR_PLAN,
            DrPlanInput(drill_id=drill_id),
            result_type=DrPlan,
            start_to_close_timeout=PLAN_TIMEOUT,
            retry_policy=DR_RETRY,
        )
        servers = ", ".join(s.name for s in plan.servers)
        workflow.set_current_details(f"**DR drill**: backing up {servers}")
        backups = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ACT_DR_BACKUP,
                    BackupInput(drill_id=drill_id, started_at=info.start_time, server=server),
                    result_type=BackupResult,
                    start_to_close_timeout=BACKUP_TIMEOUT,
                    heartbeat_timeout=DR_HEARTBEAT,
                    retry_policy=DR_RETRY,
                )
                for server in plan.servers
            )
        )
        workflow.set_current_details(f"**DR drill**: restoring and verifying {servers}")
        parts = await asyncio.gather(
            *(
                workflow.execute_activity(
                    ACT_DR_RESTORE_VERIFY,
                    RestoreVerifyInput(
                        drill_id=drill_id,
                        started_at=info.start_time,
                        workflow_id=info.workflow_id,
                        backup=backup,
                        max_histories=inp.max_histories,
                    ),
                    result_type=DrDrillReport,
                    start_to_close_timeout=RESTORE_VERIFY_TIMEOUT,
                    heartbeat_timeout=DR_HEARTBEAT,
                    retry_policy=DR_RETRY,
                )
                for backup in backups
            )
        )
        report = combine(plan, parts)
        await workflow.execute_activity(
            ACT_DR_RECORD,
            RecordReportInput(
                report=report,
                backup_dir=backups[0].backup_dir,
                keep_backup=inp.keep_backup,
                backup_dirs=[b.backup_dir for b in backups],
            ),
            result_type=RecordReportResult,
            start_to_close_timeout=RECORD_TIMEOUT,
            retry_policy=DR_RETRY,
        )
        return report

    @staticmethod
    def _done(report: DrDrillReport) -> DrDrillReport:
        verdict = "verified" if report.verified else "FAILED"
        rpo = "unknown" if report.rpo_seconds is None else f"{report.rpo_seconds:.1f} s"
        workflow.set_current_details(f"**DR drill** {verdict}: RTO {report.rto_seconds:.1f} s, RPO {rpo}")
        return report
