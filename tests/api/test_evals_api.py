"""`/v1/evals/runs` on the running platform: a tenant reads its own runs and their verdicts, never another's.

The runs are stored as `EvalRunWorkflow`'s activities store them (`evaluation.store`); running them is
`tests/evals/test_gate.py`'s business.
"""

from __future__ import annotations

import uuid

from contracts.eval_runs import Observation, ObservedCall, ObservedTurn, TaskResult
from contracts.evals import GoldenTask, Verdict
from db.database import Database
from evaluation import store
from tests.api.helpers import error, every_item, fresh_tenant, page
from tests.e2e.agent_world import run_db
from tests.e2e.platform import Platform

TASK = GoldenTask.model_validate(
    {"id": "orders.cancel.x", "agent": "orders", "category": "cancellation", "turns": [{"text": "cancel"}]}
)


def _store_run(platform: Platform, tenant_id: str, *, passed: bool) -> str:
    run_id = str(uuid.uuid4())
    observation = Observation(
        turns=[
            ObservedTurn(
                user="<script>cancel</script>", answer="done", calls=[ObservedCall(tool="orders.cancel", status="ok")]
            )
        ],
        prompt_tokens=12,
    )
    result = TaskResult(
        task_id=TASK.id,
        passed=passed,
        verdicts=[Verdict(grader="tools", passed=passed, detail="ok" if passed else "missing orders.cancel")],
        observation=observation,
    )

    async def write(db: Database) -> None:
        async with db.tenant_session(tenant_id) as session:
            await store.create_run(session, tenant_id=tenant_id, run_id=run_id, suite="golden", tasks=[TASK])
            await store.save_result(
                session, tenant_id=tenant_id, run_id=run_id, task=TASK, result=result, eval_tenant_id=""
            )
            await store.finish_run(session, run_id)

    run_db(platform.settings, write)
    return run_id


def test_a_tenant_lists_and_reads_its_runs(platform: Platform) -> None:
    with fresh_tenant(platform, "Evals") as (tenant_id, owner):
        first = _store_run(platform, tenant_id, passed=True)
        second = _store_run(platform, tenant_id, passed=False)
        runs = every_item(owner, "/v1/evals/runs", limit=1)
        assert {r["id"] for r in runs} == {first, second} and len(runs) == 2
        listed = page(owner.get("/v1/evals/runs", params={"limit": 1}))
        assert len(listed["items"]) == 1 and listed["next_cursor"]
        run = owner.get(f"/v1/evals/runs/{second}")
        assert run.status_code == 200, run.text
        body = run.json()
        assert (body["status"], body["total"], body["passed"], body["pass_rate"]) == ("completed", 1, 0, 0.0)
        [result] = body["results"]
        assert result["task_id"] == TASK.id and not result["passed"] and result["observation"] is None
        assert result["verdicts"] == [
            {
                "grader": "tools",
                "passed": False,
                "detail": "missing orders.cancel",
                "score": None,
                "spread": None,
                "gating": True,
            }
        ]
        detailed = owner.get(f"/v1/evals/runs/{first}", params={"include": "observations"}).json()
        assert detailed["pass_rate"] == 1.0
        assert detailed["results"][0]["observation"]["turns"][0]["calls"][0]["tool"] == "orders.cancel"
        error(owner.get(f"/v1/evals/runs/{first}", params={"include": "everything"}), 422)


def test_another_tenants_runs_are_invisible(platform: Platform) -> None:
    with fresh_tenant(platform, "Evals A") as (tenant_a, _owner_a), fresh_tenant(platform, "Evals B") as (_, owner_b):
        theirs = _store_run(platform, tenant_a, passed=True)
        assert page(owner_b.get("/v1/evals/runs"))["items"] == []
        error(owner_b.get(f"/v1/evals/runs/{theirs}"), 404, "eval_run_not_found")
        for bogus in ("not-a-uuid", str(uuid.uuid4()), theirs.upper()):
            error(owner_b.get(f"/v1/evals/runs/{bogus}"), 404, "eval_run_not_found")
        # A forged cursor is refused, never read.
        error(owner_b.get("/v1/evals/runs", params={"cursor": "eyJ4Ijox.ZmFrZQ"}), 400)
