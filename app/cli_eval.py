"""`aiaas eval`: run a golden suite on the platform, compare two runs, write a run's HTML report.

    aiaas eval run --suite golden --tenant ID [--model M] [--agent-version NAME@N] [--report run.html]
    aiaas eval compare RUN_A RUN_B --tenant ID
    aiaas eval report RUN --tenant ID --out run.html

`run` stores the run under the tenant, starts `EvalRunWorkflow` on the worker's task queue, shows progress
on stderr and prints the totals as JSON; with `--min-pass-rate` it exits 1 below it (for CI). Each task runs
in an eval tenant of its own; `--model` pins every task's turns to that model, `--agent-version orders@3` runs the
tenant's saved version 3 of `orders` in every eval tenant. Each eval tenant is offboarded once its task is graded
(export, `--eval-tenant-retention` hours, purge; `--keep-eval-tenants` keeps them); the results stay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fnmatch
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.cli_context import add_data_dir, load_settings, require_database, run_database

_BAR = 30


def add_eval_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("eval", help="golden-task evals: run a suite, compare runs, write a report")
    commands = parser.add_subparsers(dest="eval_command", required=True)
    run = commands.add_parser("run", help="run a golden suite as real conversations and grade it")
    run.add_argument("--suite", required=True, help="a folder of evals/suites (e.g. golden)")
    run.add_argument("--tenant", required=True, help="the tenant that owns the run")
    run.add_argument("--model", default="", help="pin every turn to this model (default: the agents' models)")
    run.add_argument(
        "--agent-version",
        default="",
        help="evaluate the tenant's saved agent versions, NAME@N[,NAME@N] (e.g. orders@3); others: the defaults",
    )
    run.add_argument(
        "--eval-tenant-retention",
        type=float,
        default=24.0,
        help="offboard each task's eval tenant when graded, purging it after this many hours (0-720, default 24)",
    )
    run.add_argument("--keep-eval-tenants", action="store_true", help="keep the eval tenants (no offboarding)")
    run.add_argument("--tasks", help="only the tasks whose id matches this glob (e.g. 'orders.refund.*')")
    run.add_argument("--concurrency", type=int, default=8, help="tasks at once (1-32, default 8)")
    run.add_argument("--report", type=Path, help="also write the run's HTML report here")
    run.add_argument("--min-pass-rate", type=float, help="exit 1 when the pass rate is below this (0-1)")
    run.add_argument("--judge-model", help="judge rubrics with this model (litellm name or local/smollm2)")
    run.add_argument(
        "--judge-recordings", type=Path, help="the judge's verdicts (JSON lines; default: the suite's verdicts.jsonl)"
    )
    run.add_argument("--judge-record", action="store_true", help="ask the judge model for verdicts not recorded")
    run.add_argument("--judge-repeats", type=int, default=3, help="judge calls per task, their median counts (1-10)")
    run.add_argument("--judge-gates", action="store_true", help="a rubric task passes only if the judge passes it")
    run.set_defaults(func=_run)
    compare = commands.add_parser("compare", help="per-task diff and pass-rate change of two runs")
    compare.add_argument("run_a", help="the baseline run's id")
    compare.add_argument("run_b", help="the candidate run's id, compared with the baseline")
    compare.add_argument("--tenant", required=True, help="the tenant that owns both runs")
    compare.add_argument("--seed", type=int, default=0, help="seed of the bootstrap interval (default 0)")
    compare.set_defaults(func=_compare)
    report = commands.add_parser("report", help="write a run's self-contained HTML report")
    report.add_argument("run", help="the run's id")
    report.add_argument("--tenant", required=True, help="the tenant that owns the run")
    report.add_argument("--out", type=Path, required=True, help="where to write the self-contained HTML page")
    report.set_defaults(func=_report)
    judge = commands.add_parser("judge", help="grade a run's tasks against their rubrics with an LLM judge")
    judge.add_argument("run", help="the run whose rubric tasks are judged")
    judge.add_argument("--tenant", required=True, help="the tenant that owns the run")
    judge.add_argument("--model", required=True, help="the judging model (litellm name)")
    judge.add_argument("--repeats", type=int, default=3, help="calls per task; the verdict is their median")
    judge.add_argument(
        "--recordings", type=Path, required=True, help="JSON lines of verdicts: replayed, and with --record extended"
    )
    judge.add_argument("--record", action="store_true", help="ask the model for verdicts not yet recorded")
    judge.set_defaults(func=_judge)
    for sub in (run, compare, report, judge):
        add_data_dir(sub)


def _progress(done: int, total: int, passed: int, started: float) -> None:
    filled = _BAR * done // max(total, 1)
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (_BAR - filled)}] {done}/{total} done, {passed} passed,"
        f" {time.monotonic() - started:.0f}s"
    )
    sys.stderr.flush()


async def _start_and_follow(settings: Any, args: argparse.Namespace, tasks: list[Any]) -> dict[str, Any]:
    from temporalio.client import WorkflowQueryFailedError
    from temporalio.service import RPCError

    from agents.definitions import pinned_agent_names
    from db.codec import connect
    from db.database import Database
    from evaluation import report, store
    from evaluation.agent_versions import AgentVersionNotFound
    from evaluation.starter import start_run

    db = Database(settings.resolved_app_database_url(), pool_size=2)
    try:
        client = await connect(settings, db=db)
        try:
            run_id, handle = await start_run(
                client,
                db,
                tenant_id=args.tenant,
                suite=args.suite,
                tasks=tasks,
                task_queue=settings.task_queue,
                model=args.model,
                agent_version=args.agent_version,
                concurrency=args.concurrency,
                judge=_judge_settings(args),
                pinned_agents=pinned_agent_names(settings),
                eval_tenant_retention=None if args.keep_eval_tenants else timedelta(hours=args.eval_tenant_retention),
            )
        except AgentVersionNotFound as exc:
            raise RuntimeError(f"--agent-version: {exc} in tenant {args.tenant}") from exc
        started = time.monotonic()
        sys.stderr.write(f"eval run {run_id}: {len(tasks)} tasks of suite {args.suite!r}\n")
        result_task = asyncio.ensure_future(handle.result())
        while not result_task.done():
            with contextlib.suppress(RPCError, WorkflowQueryFailedError):
                # Best effort: the run may not have been picked up by a worker yet.
                progress = await handle.query("progress")
                _progress(progress["done"], progress["total"], progress["passed"], started)
            await asyncio.wait({result_task}, timeout=0.5)
        result = result_task.result()
        _progress(result.total, result.total, result.passed, started)
        sys.stderr.write("\n")
        async with db.tenant_session(args.tenant) as session:
            run = await store.get_run(session, run_id)
            results = await store.run_results(session, run_id) if args.report else []
        assert run is not None
        if args.report:
            args.report.write_text(report.render(run, results))
        return {
            "run_id": run_id,
            "suite": args.suite,
            "total": run["total"],
            "passed": run["passed"],
            "pass_rate": run["pass_rate"],
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        await db.close()


def _judge_settings(args: argparse.Namespace) -> Any:
    from contracts.eval_runs import JudgeSettings
    from evaluation.suites import verdicts_path

    if not args.judge_model:
        return None
    recordings = (args.judge_recordings or verdicts_path(args.suite)).resolve()
    return JudgeSettings(
        model=args.judge_model,
        recordings=str(recordings),
        repeats=args.judge_repeats,
        record=args.judge_record,
        gating=args.judge_gates,
    )


def _run(args: argparse.Namespace) -> int:
    from evaluation.agent_versions import AgentVersionInvalid
    from evaluation.agent_versions import parse as parse_agent_versions
    from evaluation.suites import SuiteError, load_suite

    if not 1 <= args.concurrency <= 32:
        raise RuntimeError("--concurrency must be 1 to 32")
    if args.min_pass_rate is not None and not 0 <= args.min_pass_rate <= 1:
        raise RuntimeError("--min-pass-rate must be between 0 and 1")
    if not 0 <= args.eval_tenant_retention <= 720:
        raise RuntimeError("--eval-tenant-retention must be 0 to 720 hours")
    if not 1 <= args.judge_repeats <= 10:
        raise RuntimeError("--judge-repeats must be 1 to 10")
    if not args.judge_model and (args.judge_record or args.judge_gates or args.judge_recordings):
        raise RuntimeError("--judge-record, --judge-gates and --judge-recordings need --judge-model")
    try:
        parse_agent_versions(args.agent_version)
    except AgentVersionInvalid as exc:
        raise RuntimeError(f"--agent-version: {exc}") from exc
    try:
        tasks = load_suite(args.suite)
    except SuiteError as exc:
        raise RuntimeError(str(exc)) from exc
    if args.tasks:
        tasks = [t for t in tasks if fnmatch.fnmatchcase(t.id, args.tasks)]
        if not tasks:
            raise RuntimeError(f"no task of suite {args.suite!r} matches {args.tasks!r}")
    settings = load_settings(args.data_dir)
    require_database(settings)
    summary = run_database(_start_and_follow(settings, args, tasks), "run the eval")
    print(json.dumps(summary))
    if args.min_pass_rate is not None and summary["pass_rate"] < args.min_pass_rate:
        print(f"pass rate {summary['pass_rate']:.1%} is below {args.min_pass_rate:.1%}", file=sys.stderr)
        return 1
    return 0


async def _results(settings: Any, tenant: str, run_ids: list[str]) -> list[tuple[dict[str, Any], list[Any]]]:
    from db.database import Database
    from evaluation import store

    db = Database(settings.resolved_app_database_url(), pool_size=1)
    try:
        out = []
        async with db.tenant_session(tenant) as session:
            for run_id in run_ids:
                run = await store.get_run(session, run_id)
                if run is None:
                    raise RuntimeError(f"no eval run {run_id} for tenant {tenant}")
                out.append((run, await store.run_results(session, run_id)))
        return out
    finally:
        await db.close()


def _compare(args: argparse.Namespace) -> int:
    from grading.compare import compare, render

    settings = load_settings(args.data_dir)
    require_database(settings)
    (_, a), (_, b) = run_database(_results(settings, args.tenant, [args.run_a, args.run_b]), "read the runs")
    comparison = compare({r["task_id"]: r["passed"] for r in a}, {r["task_id"]: r["passed"] for r in b}, seed=args.seed)
    print(render(comparison, args.run_a, args.run_b))
    return 0


def _report(args: argparse.Namespace) -> int:
    from evaluation import report

    settings = load_settings(args.data_dir)
    require_database(settings)
    [(run, results)] = run_database(_results(settings, args.tenant, [args.run]), "read the run")
    args.out.write_text(report.render(run, results))
    print(json.dumps({"run_id": args.run, "report": str(args.out), "tasks": len(results)}))
    return 0


async def _judge_run(settings: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    from contracts.eval_runs import Observation
    from db.database import Database
    from evaluation import store
    from grading.judge import judge_rubric
    from grading.judge_models import recorded_judge
    from grading.rubric import judge_transcript

    judge = recorded_judge(args.model, args.recordings, record=args.record)
    db = Database(settings.resolved_app_database_url(), pool_size=1)
    try:
        async with db.tenant_session(args.tenant) as session:
            results = await store.run_results(session, args.run)
            rubrics = {r["task_id"]: (await store.run_task(session, args.run, r["task_id"]))[0].rubric for r in results}
    finally:
        await db.close()
    out = []
    for result in results:
        rubric = rubrics.get(result["task_id"], "")
        if not rubric:
            continue
        transcript = judge_transcript(Observation.model_validate(result["observation"]))
        verdict = await judge_rubric(judge, rubric, transcript, repeats=args.repeats)
        out.append(
            {"task_id": result["task_id"], "score": verdict.score, "spread": verdict.spread, "passed": verdict.passed}
        )
    return out


def _judge(args: argparse.Namespace) -> int:
    if not 1 <= args.repeats <= 10:
        raise RuntimeError("--repeats must be 1 to 10")
    settings = load_settings(args.data_dir)
    require_database(settings)
    from grading.judge import JudgeError

    try:
        verdicts = run_database(_judge_run(settings, args), "judge the run")
    except JudgeError as exc:
        raise RuntimeError(str(exc)) from exc
    for verdict in verdicts:
        print(json.dumps(verdict))
    return 0
