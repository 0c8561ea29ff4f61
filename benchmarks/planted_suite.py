"""Planted regressions through the golden suite AND the replay: which of the two catches each, false alarms,
identical verdicts over repeated clean runs.

    python -m benchmarks planted_suite [--repeats 5] [--concurrency 8] [--all] [--json FILE] [--replay-json FILE]

The twenty regressions of `benchmarks.replay_regression` are planted one at a time, built on the agents and
tools as they ship today (not as the recordings saw them), and each is

- replayed over every recorded conversation (`evals.replay`: caught when any step diverges), and
- run through the golden suite as a real eval run on the embedded stack (`EvalRunWorkflow`, a tenant per task,
  scripted models): a changed agent definition or prompt is saved as a new version of the owner's agent and the
  run evaluates it (`agent_version`, copied into every eval tenant), a faulty model is the run's pinned model
  (`planted/<fault>`), a changed tool spec (schema, approval rule, visibility, removal) is swapped into the
  worker's tool registry for that run. The suite catches a regression when a task fails (every task passes on
  the clean settings). The router threshold is not planted in the suite: its agents are pinned to scripted
  models, so no routing decision reads the threshold; only the replay, which re-takes every recorded routing
  decision, measures it.

Clean controls: the suite on the shipped settings (`scripted/agent`) and on `planted/agent` (the fault-free
planted model, which reads prompts and schemas), `--repeats` times each; every task's verdicts (grader and
outcome per grader) must be identical each time and nothing may fail. The replay's controls and repeats are
those of `replay_regression`.

Tasks: by default a documented subset, the first task of every (agent, category) of `evals/suites/golden`
and of every (agent, tool its script calls): every tool, approval path, handoff, refusal and injection
category appears, so 20 planted runs
and 10 clean ones take minutes, not an hour; `--all` runs every task.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.planted_suite_report import CLEAN, NOT_IN_SUITE, combine, render
from benchmarks.replay_regression import regressions
from benchmarks.replay_regression import run as run_replay
from contracts.agents import ResolvedAgent, ToolSpec
from contracts.evals import GoldenTask
from evals.replay.candidate import Candidate
from evals.replay.planted import FAULTS

# Tasks about refusing what an agent may not do: the scripted model calls the tool anyway and the platform
# refuses it, which those tasks expect; `planted/agent`, like a real model, never calls a tool it is not offered.
REFUSAL_CATEGORIES = frozenset({"out-of-scope", "refusal", "injection", "isolation"})


def subset(tasks: list[GoldenTask]) -> list[GoldenTask]:
    """The first task of every (agent, category) and of every (agent, tool its script calls), in suite order,
    leaving out the refusal categories."""
    seen: set[tuple[str, str]] = set()
    chosen = []
    for task in tasks:
        if task.category in REFUSAL_CATEGORIES:
            continue
        keys = {(task.agent, f"category:{task.category}")}
        keys |= {
            (task.agent, f"tool:{step.get('tool')}")
            for turn in task.turns
            for step in turn.plan or []
            if "tool" in step
        }
        if keys - seen:
            seen |= keys
            chosen.append(task)
    return chosen


def shipped_agents(registry: Any) -> dict[str, ResolvedAgent]:
    """The shipped agents resolved against today's registry, as the platform resolves them."""
    from agents.definitions import shipped_agents
    from agents.validation import expand_tool_refs

    return {
        name: ResolvedAgent(definition=d, tools=[t.spec for t in expand_tool_refs(d.tools, registry)], agent_version=0)
        for name, d in shipped_agents().items()
    }


@contextlib.contextmanager
def swapped_tools(registry: Any, changes: dict[str, ToolSpec | None]) -> Iterator[None]:
    """The registry with the changed specs (None: the tool unregistered) for the length of one run."""
    import dataclasses

    tools: dict[tuple[str, int], Any] = registry._tools  # a benchmark plants faults in place
    saved = dict(tools)
    try:
        for name, spec in changes.items():
            key = max(k for k in tools if k[0] == name)
            if spec is None:
                del tools[key]
            else:
                tools[key] = dataclasses.replace(tools[key], spec=spec)
        yield
    finally:
        tools.clear()
        tools.update(saved)


def catalog_with_planted(folder: Path) -> Path:
    """The shipped model catalog plus the planted models (in-process: every region)."""
    from router.catalog import CATALOG_FILE

    document = json.loads(Path(CATALOG_FILE).read_text())
    document["models"] += [
        {"name": f"planted/{f}", "tier": "small", "regions": ["*"], "context_window": 32000} for f in FAULTS
    ]
    path = folder / "models.json"
    path.write_text(json.dumps(document))
    return path


def _signature(results: list[dict[str, Any]]) -> list[Any]:
    return [[r["task_id"], r["passed"], [[v["grader"], v["passed"]] for v in r["verdicts"]]] for r in results]


async def _suite(
    settings: Any, tasks: list[GoldenTask], args: argparse.Namespace, models: dict[str, str]
) -> dict[str, Any]:
    from agents.definitions import save_agent
    from app.tools import platform_registry
    from app.worker import build_worker
    from db.database import Database
    from db.migrate import migrate
    from evals.replay.planted import register_planted
    from evaluation import store
    from evaluation.starter import start_run
    from tenancy.tenants import create_tenant
    from tests.e2e.platform import AGENT_MODELS

    await migrate(settings.database_url or "", settings.app_db_password.get_secret_value())
    queue = f"bench-planted-{uuid.uuid4().hex[:6]}"
    folder = Path(tempfile.mkdtemp(prefix="aiaas-planted-"))
    worker_settings = settings.model_copy(
        update={
            "agent_models": json.dumps(AGENT_MODELS),
            "model_small": "scripted/echo",
            "model_large": None,
            "router_catalog": str(catalog_with_planted(folder)),
        }
    )
    registry = platform_registry()
    planted = regressions(shipped_agents(registry))
    db = Database(worker_settings.resolved_app_database_url(), pool_size=4)
    runs: dict[str, list[dict[str, Any]]] = {}
    models.update(CLEAN)
    models.update({name: candidate.model or "" for name, (_what, candidate) in planted.items()})
    try:
        async with build_worker(worker_settings, task_queue=queue) as deps, deps.worker:
            register_planted()
            owner = await create_tenant(
                settings.database_url or "", name=f"bench planted {uuid.uuid4().hex[:6]}", plan="pro",
                pepper=settings.api_key_pepper.get_secret_value(),
            )  # fmt: skip

            async def one(name: str, model: str, agent_version: str = "") -> dict[str, Any]:
                started = time.perf_counter()
                run_id, handle = await start_run(
                    deps.client, db, tenant_id=owner.tenant_id, suite="golden", tasks=tasks, task_queue=queue,
                    model=model, agent_version=agent_version, concurrency=args.concurrency,
                )  # fmt: skip
                await handle.result()
                async with db.tenant_session(owner.tenant_id) as session:
                    results = await store.run_results(session, run_id)
                failed = [r["task_id"] for r in results if not r["passed"]]
                row = {"seconds": time.perf_counter() - started, "failed": failed, "signature": _signature(results)}
                digest = hashlib.sha256(json.dumps(row["signature"]).encode()).hexdigest()[:12]
                print(
                    f"  {name:<28} {len(failed):>3} of {len(results)} failed  {row['seconds']:5.1f} s"
                    f"  verdicts {digest}  {','.join(failed)}",
                    flush=True,
                )
                return row

            # One clean run of each first, the planted ones next, the clean repeats last: what was printed
            # before an interruption already holds every regression's verdict.
            for name, model in CLEAN.items():
                runs[name] = [await one(name, model)]
            for name, (_what, candidate) in planted.items():
                if name in NOT_IN_SUITE:
                    continue
                runs[name] = [await _planted(one, name, candidate, registry, owner.tenant_id, db, save_agent)]
            for _ in range(args.repeats - 1):
                for name, model in CLEAN.items():
                    runs[name].append(await one(name, model))
    finally:
        await db.close()
    return runs


async def _planted(
    one: Any, name: str, candidate: Candidate, registry: Any, tenant_id: str, db: Any, save_agent: Any
) -> dict[str, Any]:
    versions = []
    async with db.tenant_session(tenant_id) as session:
        for agent, definition in sorted(candidate.agents.items()):
            saved = await save_agent(session, tenant_id, definition, f"planted {name}", registry=registry)
            versions.append(f"{agent}@{saved.version}")
    with swapped_tools(registry, dict(candidate.tools)):
        return await one(name, candidate.model or "", ",".join(versions))


def main(argv: list[str] | None = None) -> int:
    from core.logging import configure_logging
    from core.settings import Settings
    from core.stack.stack import throwaway_stack
    from evaluation.suites import load_suite

    configure_logging("WARNING", json_output=True)
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--all", action="store_true", help="every task of the golden suite, not the subset")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--replay-json", type=Path, help="the replay's result from `replay_regression --json`")
    args = parser.parse_args(argv)
    args.repeats = max(1, args.repeats)
    tasks = load_suite("golden")
    tasks = tasks if args.all else subset(tasks)
    if not args.replay_json:
        print(f"replay: {args.repeats} repeats over the recorded histories", flush=True)
        replay = asyncio.run(run_replay(args.repeats))
    print(f"suite: {len(tasks)} tasks per run, concurrency {args.concurrency}", flush=True)
    base = Settings()
    models: dict[str, str] = {}
    if base.temporal_address and base.database_url and base.redis_url:
        suite = asyncio.run(_suite(base, tasks, args, models))
    else:
        with throwaway_stack("aiaas-bench-planted-", env="test", log_level="WARNING") as settings:
            suite = asyncio.run(_suite(settings, tasks, args, models))
    if args.replay_json:
        # The replay measured by `python -m benchmarks replay_regression --json FILE`, run beside this one; read
        # once the suite is done, so both may start together.
        replay = json.loads(args.replay_json.read_text())
    result = combine(replay, suite, len(tasks), models)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    ok = result["false_alarms"] == 0 and result["suite_repeatable"] and result["replay_repeatable"]
    return 0 if ok and result["caught_together"] >= result["planted"] - 1 else 1
