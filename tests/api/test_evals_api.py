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


def _save_orders(api: object, drop: str | None = None) -> int:
    from agents.definitions import shipped_agents

    shipped = shipped_agents()["orders"]
    body = shipped.model_dump(
        mode="json", include={"description", "system_prompt", "tools", "default_tier", "handoff_targets", "limits"}
    )
    body["tools"] = [t for t in body["tools"] if t != drop]
    saved = api.put("/v1/agents/orders", json=body)  # type: ignore[attr-defined]
    assert saved.status_code == 201, saved.text
    return int(saved.json()["version"])


def _finished(api: object, run_id: str) -> dict:
    import time

    for _ in range(600):
        run = api.get(f"/v1/evals/runs/{run_id}", params={"include": "observations"}).json()  # type: ignore[attr-defined]
        if run["status"] != "running":
            return dict(run)
        time.sleep(0.1)
    raise AssertionError("the eval run never finished")


def test_a_tenant_starts_a_run_of_its_own_agent_versions(platform: Platform) -> None:
    with fresh_tenant(platform, "Eval versions") as (_tenant, owner):
        good, broken = _save_orders(owner), _save_orders(owner, drop="orders.cancel")
        verdicts = {}
        for version in (good, broken):
            started = owner.post(
                "/v1/evals/runs",
                json={"suite": "golden", "tasks": "orders.cancel.ada.placed.0", "agent_version": f"orders@{version}"},
            )
            assert started.status_code == 202, started.text
            assert started.json()["tasks"] == 1
            run = _finished(owner, started.json()["id"])
            assert run["agent_version"] == f"orders@{version}" and run["status"] == "completed"
            verdicts[version] = run["results"][0]["passed"]
        # The version without orders.cancel cannot cancel: the two versions earn different verdicts.
        assert verdicts == {good: True, broken: False}


def test_a_run_of_another_tenants_agent_version_is_refused(platform: Platform) -> None:
    with fresh_tenant(platform, "Eval A") as (_a, a), fresh_tenant(platform, "Eval B") as (_b, b):
        theirs = [_save_orders(b) for _ in range(2)][-1]
        before = len(every_item(a, "/v1/evals/runs"))
        refused = a.post("/v1/evals/runs", json={"suite": "golden", "agent_version": f"orders@{theirs}"})
        error(refused, 404, "agent_version_not_found")
        for bad in ("orders", "orders@1;drop", "orders@1,orders@2", "x" * 1001):
            error(a.post("/v1/evals/runs", json={"suite": "golden", "agent_version": bad}), 422)
        error(a.post("/v1/evals/runs", json={"suite": "nosuchsuite"}), 404, "eval_suite_not_found")
        error(a.post("/v1/evals/runs", json={"suite": "../golden"}), 422)
        error(a.post("/v1/evals/runs", json={"suite": "golden", "tasks": "nothing.*"}), 422, "eval_tasks_empty")
        error(a.post("/v1/evals/runs", json={"suite": "golden", "model": "no/such-model"}), 422, "model_unknown")
        error(a.post("/v1/evals/runs", json={"suite": "golden", "tenant_id": _b}), 422)
        error(a.post("/v1/evals/runs", json={"suite": "golden", "concurrency": 0}), 422)
        assert len(every_item(a, "/v1/evals/runs")) == before
