"""The checks a DR drill runs against its restored scratch stack.

- Postgres: per-tenant row counts and checksums equal to the source's at the marker (`core.dr.pgstats`), and
  every tenant's audit chain verifies (`tenancy.audit_read.verify_chain`) in the restored database.
- Temporal: every restored run of a platform workflow replays through today's workflow code without
  nondeterminism, with the plugin the workers use; payloads are decoded with the platform's codec first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import structlog
from temporalio.api.workflow.v1 import WorkflowExecutionVersioningInfo
from temporalio.client import Client, WorkflowExecution
from temporalio.converter import PayloadCodec
from temporalio.worker import Replayer

from contracts.dr import Mismatch, TableStat
from core.crypto import decode_history
from core.temporal_plugin import aiaas_plugin
from db.database import Database
from tenancy.audit_read import verify_chain

Beat = Callable[[str], None]
log = structlog.get_logger("aiaas.dr")


def compare(source: Sequence[TableStat], restored: Sequence[TableStat]) -> list[Mismatch]:
    """Every (table, tenant) whose rows or checksum differ; a side without rows counts as 0 rows, no checksum."""
    left = {(s.table, s.tenant_id): s for s in source}
    right = {(s.table, s.tenant_id): s for s in restored}
    out: list[Mismatch] = []
    for key in sorted(left.keys() | right.keys()):
        a, b = left.get(key), right.get(key)
        if a is not None and b is not None and (a.rows, a.checksum) == (b.rows, b.checksum):
            continue
        out.append(
            Mismatch(
                table=key[0],
                tenant_id=key[1],
                source_rows=a.rows if a else 0,
                restored_rows=b.rows if b else 0,
                source_checksum=a.checksum if a else "",
                restored_checksum=b.checksum if b else "",
            )
        )
    return out


async def verify_audit_chains(database_url: str, beat: Beat) -> tuple[int, list[str]]:
    """(tenants checked, tenants whose chain fails) in the restored database."""
    db = Database(database_url, pool_size=2)
    failures: list[str] = []
    try:
        async with db.admin_session() as session:
            connection = await session.connection()
            result = await connection.exec_driver_sql("SELECT id FROM tenants ORDER BY id")
            tenant_ids = [str(row[0]) for row in result]
        for tenant_id in tenant_ids:
            async with db.tenant_session(tenant_id) as session:
                verdict = await verify_chain(session, tenant_id)
            if not verdict.ok:
                failures.append(f"{tenant_id}: event {verdict.first_bad_id}")
            beat("audit chains")
    finally:
        await db.close()
    return len(tenant_ids), failures


def _build_id(info: WorkflowExecutionVersioningInfo) -> str | None:
    if info.HasField("deployment_version") and info.deployment_version.build_id:
        return info.deployment_version.build_id
    if info.HasField("deployment") and info.deployment.build_id:
        return info.deployment.build_id
    # The older string form, `<deployment>.<build id>`, or `__unversioned__`.
    if info.version and info.version != "__unversioned__":
        return info.version.split(".", 1)[-1]
    return None


async def _version_of(client: Client, execution: WorkflowExecution) -> str | None:
    """The build id of the worker deployment version a run is pinned to or last ran on; None: unversioned.

    Visibility records may leave the versioning info out, so a run without it in the listing is described."""
    found = _build_id(execution.raw_info.versioning_info)
    if found is not None:
        return found
    described = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
    return _build_id(described.raw_description.workflow_execution_info.versioning_info)


async def replay_restored(
    address: str,
    namespace: str,
    workflows: Sequence[type],
    codec: PayloadCodec | None,
    limit: int,
    beat: Beat,
    *,
    build_id: str | None = None,
) -> tuple[int, int, int, list[str], dict[str, datetime]]:
    """Replay every restored run of `workflows` (at most `limit`) that this worker's code is responsible for.

    A run pinned to another worker deployment version (`build_id` is the drilling worker's, None when it is
    unversioned) is that version's to replay: with versioning, an older version's histories are expected not
    to replay on newer code, so they are left out and counted with the runs over the limit.

    Returns (replayed, left out, unreadable, failures, start time by workflow id)."""
    names = {getattr(w, "__temporal_workflow_definition").name for w in workflows}
    client = await Client.connect(address, namespace=namespace)
    replayer = Replayer(workflows=list(workflows), plugins=[aiaas_plugin()])
    replayed = skipped = unreadable = 0
    failures: list[str] = []
    started: dict[str, datetime] = {}
    async for execution in client.list_workflows():
        started[execution.id] = execution.start_time
        if execution.workflow_type not in names:
            continue
        if replayed >= limit or await _version_of(client, execution) not in (None, build_id):
            skipped += 1
            continue
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        try:
            history = await decode_history(await handle.fetch_history(), codec)
        except Exception as exc:
            # A history whose tenant's keys were shredded (an offboarded tenant) cannot be opened by anyone,
            # which is the point of shredding; it is counted, not failed.
            unreadable += 1
            log.info("restored history not readable", workflow_id=execution.id, error=type(exc).__name__)
            continue
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        replayed += 1
        if result.replay_failure is not None:
            failures.append(f"{execution.workflow_type} {execution.id}: {result.replay_failure}")
        if replayed % 20 == 0:
            beat(f"replayed {replayed}")
    return replayed, skipped, unreadable, failures, started
