"""The same 20 golden tasks graded by ours and by pydantic-evals, over the same conversations.

    python -m benchmarks evals_side_by_side [--tasks 20]

The tasks (one of every category of `evals/suites/golden`, then the next ones, up to `--tasks`) run once as
an eval run on the embedded stack (`scripted/agent`, all expected to pass) and once with a planted
regression (`scripted/echo`, a model that never calls a tool: most expected to fail), so both graders see
passing and failing conversations. Each stored conversation is then graded twice:

- ours: `grading.graders.grade` (tools, world, answer checks), as the run graded it;
- pydantic-evals (the `evals-bench` extra): a `Dataset` of one `Case` per task whose task function returns
  the stored conversation, ids written back as references, with the expectations expressed as its
  evaluators: `Contains` for `contains`, and evaluators written on its `Evaluator` API for tool calls, the
  world, `not_contains`, `regex` and `json_schema` (its own tool-call evaluators read OpenTelemetry spans of
  pydantic-ai agents, which a Temporal activity does not emit).

A task's verdict is pass when every check passes. The script prints both verdicts per task, the number of
disagreements (goal: none) and each grader's time over the same conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTED, PLANTED = "", "scripted/echo"


def _unreference(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, str):
        for ref, real in sorted(refs.items(), key=lambda item: -len(item[1])):
            if real and real != ref.split(":", 1)[1]:
                value = value.replace(real, "{" + ref + "}")
        return value
    if isinstance(value, dict):
        return {k: _unreference(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [_unreference(v, refs) for v in value]
    return value


def _theirs(tasks: list[Any]) -> Any:
    """The tasks as a pydantic-evals Dataset; written only against its public API."""
    from pydantic_evals import Case, Dataset
    from pydantic_evals.evaluators import Contains, EvaluationReason, Evaluator, EvaluatorContext

    def norm(value: Any) -> Any:
        return json.loads(json.dumps(value).casefold())

    @dataclass
    class ToolCalls(Evaluator[str, str, Any]):
        calls: list[dict[str, Any]]
        ordered: bool = False
        exact: bool = False
        forbidden: list[str] = field(default_factory=list)

        def evaluate(self, ctx: EvaluatorContext[str, str, Any]) -> EvaluationReason:
            seen = [c for turn in ctx.attributes["turns"] for c in turn["calls"]]
            used: set[int] = set()
            last = -1
            for want in self.calls:

                def fits(c: dict[str, Any], want: dict[str, Any] = want) -> bool:
                    args = norm(c["arguments"])
                    ok = c["tool"] == want["tool"] and (not want.get("status") or c["status"] == want["status"])
                    return ok and all(k in args and args[k] == norm(v) for k, v in want.get("args", {}).items())

                hits = [i for i, c in enumerate(seen) if i not in used and fits(c) and (not self.ordered or i > last)]
                if not hits:
                    return EvaluationReason(False, f"missing {want['tool']}")
                used.add(hits[0])
                last = hits[0]
            if self.exact and len(used) != len(seen):
                return EvaluationReason(False, "unexpected calls")
            ran = {c["tool"] for c in seen if c["status"] == "ok"}
            bad = sorted(ran & set(self.forbidden))
            return EvaluationReason(not bad, f"forbidden ran: {bad}" if bad else None)

    @dataclass
    class World(Evaluator[str, str, Any]):
        expected: dict[str, Any]

        def evaluate(self, ctx: EvaluatorContext[str, str, Any]) -> bool:
            world = ctx.attributes["world"]
            for label, state in self.expected.get("orders", {}).items():
                order = world["orders"].get(label)
                if order is None or any(v is not None and order.get(k) != v for k, v in state.items()):
                    return False
            return all(world.get(k) == v for k, v in self.expected.items() if k != "orders" and v is not None)

    @dataclass
    class Answer(Evaluator[str, str, Any]):
        kind: str
        value: Any

        def evaluate(self, ctx: EvaluatorContext[str, str, Any]) -> bool:
            import jsonschema

            text = ctx.output
            if self.kind == "not_contains":
                return self.value not in text
            if self.kind == "regex":
                return re.search(self.value, text) is not None
            try:
                jsonschema.validate(json.loads(text), self.value)
            except (ValueError, jsonschema.ValidationError):
                return False
            return True

    @dataclass
    class Ran(Evaluator[str, str, Any]):
        def evaluate(self, ctx: EvaluatorContext[str, str, Any]) -> bool:
            return not ctx.attributes["error"]

    cases = []
    for task in tasks:
        expect = task.expect
        evaluators: list[Any] = [
            Ran(),
            ToolCalls(
                calls=[c.model_dump() for c in expect.tools.calls],
                ordered=expect.tools.ordered,
                exact=expect.tools.exact,
                forbidden=list(expect.tools.forbidden),
            ),
            World(expected=expect.world.model_dump()),
        ]
        for check in expect.answer:
            if check.contains is not None:
                evaluators.append(Contains(value=check.contains))
            else:
                kind, value = next((k, v) for k, v in check.model_dump().items() if v is not None)
                evaluators.append(Answer(kind=kind, value=value))
        cases.append(Case(name=task.id, inputs=task.id, metadata={"category": task.category}, evaluators=evaluators))
    return Dataset(name="golden-20", cases=cases)


async def _runs(settings: Any, tasks: list[Any]) -> dict[str, list[dict[str, Any]]]:
    from app.worker import build_worker
    from db.database import Database
    from db.migrate import migrate
    from evaluation import store
    from evaluation.starter import start_run
    from tenancy.tenants import create_tenant
    from tests.e2e.platform import AGENT_MODELS

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    worker_settings = settings.model_copy(
        update={"agent_models": json.dumps(AGENT_MODELS), "model_small": "scripted/echo", "model_large": None}
    )
    queue = f"bench-side-{uuid.uuid4().hex[:6]}"
    db = Database(worker_settings.resolved_app_database_url(), pool_size=4)
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            owner = await create_tenant(
                settings.database_url or "", name=f"bench side {uuid.uuid4().hex[:6]}", plan="pro",
                pepper=settings.api_key_pepper.get_secret_value(),
            )  # fmt: skip
            for model in (SCRIPTED, PLANTED):
                run_id, handle = await start_run(
                    deps.client, db, tenant_id=owner.tenant_id, suite="golden", tasks=tasks, task_queue=queue,
                    model=model, concurrency=10,
                )  # fmt: skip
                await handle.result()
                async with db.tenant_session(owner.tenant_id) as session:
                    out[model or "scripted/agent"] = await store.run_results(session, run_id)
    finally:
        await db.close()
    return out


def choose(count: int) -> list[Any]:
    from evaluation.suites import load_suite

    suite = load_suite("golden")
    first = {t.category: t for t in reversed(suite)}  # the first task of every category
    chosen = list(first.values())
    chosen += [t for t in suite if t not in chosen][: max(0, count - len(chosen))]
    return chosen[:count]


async def _compare(tasks: list[Any], runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    from pydantic_evals.dataset import set_eval_attribute

    from contracts.eval_runs import Observation
    from grading.graders import grade, passed

    by_id = {t.id: t for t in tasks}
    dataset = _theirs(tasks)
    rows, ours_seconds, theirs_seconds = [], 0.0, 0.0
    for model, results in runs.items():
        observations = {r["task_id"]: Observation.model_validate(r["observation"]) for r in results}
        started = time.perf_counter()
        ours = {tid: passed(grade(by_id[tid], obs)) for tid, obs in observations.items()}
        ours_seconds += time.perf_counter() - started

        async def task(task_id: str, observations: dict[str, Observation] = observations) -> str:
            # The output is the final answer (what `Contains` reads); the rest is recorded as attributes.
            observation = observations[task_id]
            data = _unreference(observation.model_dump(mode="json"), observation.refs)
            for name in ("turns", "world", "error"):
                set_eval_attribute(name, data[name])
            return str(data["turns"][-1]["answer"]) if data["turns"] else ""

        started = time.perf_counter()
        report = await dataset.evaluate(task, progress=False)
        theirs_seconds += time.perf_counter() - started
        for case in report.cases:
            theirs = all(a.value for a in case.assertions.values()) and not case.evaluator_failures
            rows.append({"model": model, "task": case.name, "ours": ours[case.name], "theirs": theirs})
        rows += [{"model": model, "task": f.name, "ours": ours[f.name], "theirs": False} for f in report.failures]
    return {
        "rows": rows,
        "disagreements": sum(r["ours"] != r["theirs"] for r in rows),
        "ours_seconds": ours_seconds,
        "theirs_seconds": theirs_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    from core.logging import configure_logging
    from core.settings import Settings
    from core.stack.stack import throwaway_stack

    parser = argparse.ArgumentParser(prog="python -m benchmarks evals_side_by_side", description=__doc__)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--results", type=Path, help="keep the runs' stored results here; grade them again if there")
    args = parser.parse_args(argv)
    configure_logging("WARNING", json_output=True)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    tasks = choose(args.tasks)
    base = Settings()
    if args.results and args.results.exists():
        runs = json.loads(args.results.read_text())
    elif base.temporal_address and base.database_url and base.redis_url:
        runs = asyncio.run(_runs(base, tasks))
    else:
        with throwaway_stack("aiaas-bench-side-", env="test", log_level="WARNING") as settings:
            runs = asyncio.run(_runs(settings, tasks))
    if args.results and not args.results.exists():
        args.results.write_text(json.dumps(runs, default=str))
    result = asyncio.run(_compare(tasks, runs))
    print(f"{'model':<16} {'task':<40} {'ours':<6} {'pydantic-evals':<6}")
    for row in result["rows"]:
        mark = "" if row["ours"] == row["theirs"] else "  <- disagree"
        print(f"{row['model']:<16} {row['task']:<40} {row['ours']!s:<6} {row['theirs']!s:<6}{mark}")
    count = len(result["rows"])
    passed = {name: sum(r[name] for r in result["rows"]) for name in ("ours", "theirs")}
    print(f"\n{count} verdicts ({len(tasks)} tasks x {len(runs)} runs); passed: ours {passed['ours']},"
          f" pydantic-evals {passed['theirs']}; disagreements: {result['disagreements']} (goal 0)")  # fmt: skip
    print(f"grading time over the same conversations: ours {result['ours_seconds'] * 1000:.1f} ms,"
          f" pydantic-evals {result['theirs_seconds'] * 1000:.1f} ms"
          f" (ratio ours/theirs {result['ours_seconds'] / max(result['theirs_seconds'], 1e-9):.2f}x)")  # fmt: skip
    return 0 if result["disagreements"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
