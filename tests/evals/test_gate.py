"""The CI gate: golden tasks run as real conversations on the platform (Temporal, Postgres, Redis, the
shipped agents on `scripted/agent`) must all pass, and a planted regression must fail the gate.

The subset is two tasks of every category of the golden suite (about a fifth of it); `python -m benchmarks
evals` runs all of them. Both runs also check what the run stored and the HTML report of it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from contracts.eval_runs import JudgeSettings
from contracts.evals import GoldenTask
from evaluation import report, store
from evaluation.starter import start_run
from evaluation.suites import load_suite
from grading.graders import gate
from grading.judge_models import LOCAL_JUDGE
from tests.evals.conftest import Evals


def subset(per_category: int = 2) -> list[GoldenTask]:
    chosen: dict[str, list[GoldenTask]] = defaultdict(list)
    for task in load_suite("golden"):
        if len(chosen[task.category]) < per_category:
            chosen[task.category].append(task)
    return [t for tasks in chosen.values() for t in tasks]


# The judge of the gate reads verdicts from a recordings file and is never asked (`record=False`): no network.
# Nothing is recorded for these conversations here, so each rubric task gets a failed, non-gating `judge`
# verdict saying so, and the gate stands on the deterministic verdicts alone.
def _recorded_judge(tmp: Path) -> JudgeSettings:
    return JudgeSettings(model=LOCAL_JUDGE, recordings=str(tmp / "verdicts.jsonl"), repeats=3, gating=False)


async def _run(
    evals: Evals, tasks: list[GoldenTask], model: str = "", judge: JudgeSettings | None = None
) -> tuple[str, int, int]:
    run_id, handle = await start_run(
        evals.client,
        evals.db,
        tenant_id=evals.tenant_id,
        suite="golden",
        tasks=tasks,
        task_queue=evals.queue,
        model=model,
        concurrency=16,
        judge=judge,
    )
    result = await handle.result()
    return run_id, result.passed, result.total


async def _failures(evals: Evals, run_id: str) -> list[str]:
    async with evals.db.tenant_session(evals.tenant_id) as session:
        results = await store.run_results(session, run_id)
    failed = [r for r in results if not r["passed"]]
    return [f"{r['task_id']}: {[v['detail'] for v in r['verdicts'] if not v['passed']]}" for r in failed]


async def test_the_deterministic_subset_clears_the_gate(evals: Evals, tmp_path: Path) -> None:
    tasks = subset()
    assert len(tasks) >= 30 and len({t.agent for t in tasks}) == 3
    run_id, passed, total = await _run(evals, tasks, judge=_recorded_judge(tmp_path))
    assert total == len(tasks)
    assert gate(passed, total), await _failures(evals, run_id)
    async with evals.db.tenant_session(evals.tenant_id) as session:
        run = await store.get_run(session, run_id)
        results = await store.run_results(session, run_id)
    assert run is not None and run["status"] == "completed" and run["pass_rate"] == 1.0
    cancel = next(r for r in results if r["category"] == "cancellation")
    observed = cancel["observation"]
    assert observed["world"]["orders"] and observed["turns"][0]["calls"][0]["tool"] == "orders.cancel"
    assert cancel["prompt_tokens"] > 0 and cancel["latency_ms"] > 0
    # The report is one page with every task; what customers wrote is escaped, never markup.
    html = report.render(run, results)
    assert html.count("<details") == total and "<script" not in html
    injection = next(r for r in results if r["category"] == "injection")
    assert injection["observation"]["turns"][0]["user"][:20].replace("'", "&#x27;") in html
    # Every task with a rubric went to the judge, which had no recording and asked nobody.
    rubrics = {t.id for t in tasks if t.rubric}
    judged = {r["task_id"]: v for r in results for v in r["verdicts"] if v["grader"] == "judge"}
    assert set(judged) == rubrics and len(rubrics) >= 3
    assert all(not v["passed"] and not v["gating"] and "no recorded verdict" in v["detail"] for v in judged.values())
    assert not (tmp_path / "verdicts.jsonl").exists()


async def test_a_planted_regression_fails_the_gate(evals: Evals) -> None:
    # The regression: agents answer on a model that never calls a tool (as a prompt that lost its tools would).
    tasks = [t for t in subset(1) if t.category in {"cancellation", "refund", "place-order", "lead-capture"}]
    run_id, passed, total = await _run(evals, tasks, model="scripted/echo")
    assert total == len(tasks) and not gate(passed, total)
    assert passed == 0, await _failures(evals, run_id)
