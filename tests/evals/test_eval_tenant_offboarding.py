"""Eval tenants leave through the platform's offboarding once their task is graded: exported, purged after the
run's retention, while the results stored for the run's owner stay as they were."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from contracts.lifecycle import Stage, TenantLifecycleResult, lifecycle_workflow_id
from core.settings import Settings
from db.database import Database, run_sql
from evaluation import store
from evaluation.starter import start_run
from evaluation.suites import load_suite
from tests.evals.conftest import Evals
from workflows.tenant_lifecycle import TenantLifecycleWorkflow


async def test_eval_tenants_are_offboarded_and_the_owners_results_stay(evals: Evals, eval_settings: Settings) -> None:
    tasks = [t for t in load_suite("golden") if t.id in {"orders.cancel.ada.placed.0", "support.status.ada.placed.0"}]
    run_id, handle = await start_run(
        evals.client, evals.db, tenant_id=evals.tenant_id, suite="golden", tasks=tasks, task_queue=evals.queue,
        eval_tenant_retention=timedelta(0),
    )  # fmt: skip
    result = await handle.result()
    assert result.passed == result.total == 2
    async with evals.db.tenant_session(evals.tenant_id) as session:
        before = await store.run_results(session, run_id)
        found = await run_sql(session, "SELECT eval_tenant_id FROM eval_results WHERE run_id = :id", {"id": run_id})
        eval_tenants = sorted(found.scalars())
    assert len(eval_tenants) == 2 and evals.tenant_id not in eval_tenants
    for eval_tenant in eval_tenants:
        lifecycle = evals.client.get_workflow_handle_for(
            TenantLifecycleWorkflow.run, lifecycle_workflow_id(eval_tenant)
        )
        done = await lifecycle.result()
        assert isinstance(done, TenantLifecycleResult) and done.purge.rows
        assert (await lifecycle.query(TenantLifecycleWorkflow.progress)).stage == Stage.PURGED
    owner_db = Database(eval_settings.database_url or "", pool_size=1)
    try:
        async with owner_db.engine.connect() as conn:
            left = await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = ANY(:ids)"), {"ids": eval_tenants})
            orders = await conn.scalar(
                text("SELECT count(*) FROM orders WHERE tenant_id = ANY(:ids)"), {"ids": eval_tenants}
            )
            owner = await conn.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": evals.tenant_id})
    finally:
        await owner_db.close()
    assert (left, orders, owner) == (0, 0, 1)
    # The owner's run and every task's verdicts and observation are untouched by the purge.
    async with evals.db.tenant_session(evals.tenant_id) as session:
        run = await store.get_run(session, run_id)
        after = await store.run_results(session, run_id)
    assert run is not None and run["passed"] == 2 and after == before
