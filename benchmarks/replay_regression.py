"""Replay regression against planted regressions: how many it catches, false alarms, repeatability, speed.

    python -m benchmarks replay_regression [--repeats 5] [--json FILE]

Twenty known regressions are planted one at a time as candidate settings (prompts, agent definitions, tool
schemas and approval rules, the router threshold, faulty models from `evals.replay.planted`) and each is
replayed over every recorded conversation in `tests/workflows/histories`. A regression is caught when any
step of any history diverges. Two clean candidates (the recording as it is, and `planted/agent`, the
fault-free planted model) must diverge nowhere. The whole set runs `--repeats` times and every verdict
(history, step, status, kinds) must be identical each time.

Speed: one replay of every recorded conversation (load, extract, ask each model step) against the baseline
of the same run, Temporal's plain `Replayer` over the same histories with the workers' plugin.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from contracts.agents import AgentDefinition, ApprovalRule, ResolvedAgent, ToolSpec
from evals.replay.candidate import Candidate
from evals.replay.cli import load_conversations
from evals.replay.planted import register_planted
from evals.replay.recorded import Conversation
from evals.replay.runner import HistoryVerdict, replay_all

HISTORIES = Path(__file__).parents[1] / "tests" / "workflows" / "histories"
GOAL_SECONDS = 60.0


def _recorded(conversations: list[Conversation]) -> dict[str, ResolvedAgent]:
    """The agents as the recordings resolved them, by name (the latest seen)."""
    agents: dict[str, ResolvedAgent] = {}
    for conv in conversations:
        for turn in conv.turns:
            for step in turn.steps:
                if step.resolved is not None:
                    agents[step.resolved.definition.name] = step.resolved
    return agents


def regressions(agents: dict[str, ResolvedAgent]) -> dict[str, tuple[str, Candidate]]:
    orders, support = agents["orders"], agents["support"]

    def spec(name: str) -> ToolSpec:
        found = orders.tool(name)
        assert found is not None, name
        return found

    def prompt_line(agent: ResolvedAgent, line: str) -> dict[str, AgentDefinition]:
        definition = agent.definition
        return {definition.name: definition.model_copy(update={"system_prompt": f"{definition.system_prompt}\n{line}"})}

    lookup = spec("orders.lookup")
    renamed = lookup.model_copy(
        update={"input_schema": {**lookup.input_schema, "properties": {"id": {"type": "string"}}, "required": ["id"]}}
    )
    integer = lookup.model_copy(
        update={"input_schema": {**lookup.input_schema, "properties": {"order_id": {"type": "integer"}}}}
    )
    no_lookup = orders.definition.model_copy(
        update={"tools": [t for t in orders.definition.tools if t != "orders.lookup"]}
    )
    suffix = "End every answer with: Anything else?"
    planted: dict[str, tuple[str, Candidate]] = {
        "prompt-drops-lookup": (
            "the orders prompt forbids orders.lookup",
            Candidate(model="planted/agent", agents=prompt_line(orders, "Never call orders.lookup.")),
        ),
        "prompt-answer-style": (
            "a prompt changes how every answer ends",
            Candidate(model="planted/agent", agents={**prompt_line(orders, suffix), **prompt_line(support, suffix)}),
        ),
        "definition-drops-lookup": (
            "the orders agent no longer lists orders.lookup",
            Candidate(agents={"orders": no_lookup}),
        ),
        "definition-drops-handoff": (
            "the support agent loses its handoff targets",
            Candidate(agents={"support": support.definition.model_copy(update={"handoff_targets": []})}),
        ),
        "schema-renames-argument": (
            "orders.lookup's order_id renamed id (model as recorded)",
            Candidate(tools={"orders.lookup": renamed}),
        ),
        "schema-rename-followed": (
            "orders.lookup's order_id renamed id, the model follows the schema",
            Candidate(model="planted/agent", tools={"orders.lookup": renamed}),
        ),
        "schema-type-change": (
            "orders.lookup's order_id becomes an integer",
            Candidate(tools={"orders.lookup": integer}),
        ),
        "tool-removed": ("orders.place is no longer registered", Candidate(tools={"orders.place": None})),
        "tool-hidden": (
            "orders.cancel hidden from models",
            Candidate(tools={"orders.cancel": spec("orders.cancel").model_copy(update={"agent_visible": False})}),
        ),
        "approval-threshold-raised": (
            "refunds need approval only above 10,000 USD",
            Candidate(
                tools={
                    "orders.refund": spec("orders.refund").model_copy(
                        update={"approval": ApprovalRule(argument="amount_cents", above=1_000_000)}
                    )
                }
            ),
        ),
        "approval-always": (
            "every order placed needs approval",
            Candidate(
                tools={"orders.place": spec("orders.place").model_copy(update={"approval": ApprovalRule(always=True)})}
            ),
        ),
        "router-threshold-flip": ("the router threshold flips to 0.99 (all large)", Candidate(router_threshold=0.99)),
    }
    for fault, what in (
        ("skip-tool", "a model that answers without calling the tool"),
        ("wrong-arg", "a model that sends a wrong argument value"),
        ("swap-tool", "a model that calls another tool"),
        ("extra-call", "a model that adds a call"),
        ("drop-arg", "a model that leaves an argument out"),
        ("stringly", "a model that sends numbers as strings"),
        ("rephrase", "a model that words its answers differently"),
        ("no-handoff", "a model that never hands over"),
    ):
        planted[f"model-{fault}"] = (what, Candidate(name=fault, model=f"planted/{fault}"))
    return planted


def _signature(verdicts: list[HistoryVerdict]) -> list[Any]:
    return [[v.source, [(s.turn, s.step, s.status, s.kinds) for s in v.steps]] for v in verdicts]


async def _temporal_replayer(paths: list[str]) -> float:
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from app.workflows import WORKFLOWS
    from core.temporal_plugin import aiaas_plugin

    started = time.perf_counter()
    replayer = Replayer(workflows=list(WORKFLOWS), plugins=[aiaas_plugin()])
    for path in paths:
        text = await asyncio.to_thread(Path(path).read_text)
        first = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
        history = WorkflowHistory.from_json(str(first.get("workflowId") or Path(path).stem), text)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (path, result.replay_failure)
    return time.perf_counter() - started


async def _full_replay(candidate: Candidate) -> tuple[float, list[HistoryVerdict]]:
    started = time.perf_counter()
    conversations, _ = await load_conversations([str(HISTORIES)])
    verdicts = await replay_all(conversations, candidate)
    return time.perf_counter() - started, verdicts


async def run(repeats: int) -> dict[str, Any]:
    register_planted()
    conversations, _ = await load_conversations([str(HISTORIES)])
    steps = sum(c.model_steps for c in conversations)
    candidates: dict[str, tuple[str, Candidate]] = {
        "clean-recorded": ("the recording's own settings", Candidate()),
        "clean-planted-agent": ("the fault-free planted model", Candidate(model="planted/agent")),
        **regressions(_recorded(conversations)),
    }
    signatures: dict[str, list[str]] = {name: [] for name in candidates}
    outcome: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        for name, (what, candidate) in candidates.items():
            verdicts = await replay_all(conversations, candidate)
            signatures[name].append(json.dumps(_signature(verdicts)))
            kinds = sorted({k for v in verdicts for s in v.steps for k in s.kinds})
            hit = sum(v.diverged for v in verdicts)
            outcome[name] = {"what": what, "caught": hit > 0, "histories_diverged": hit, "kinds": kinds}
    ours, replayer = [], []
    sources = [c.source for c in conversations]
    for _ in range(repeats):
        seconds, _verdicts = await _full_replay(Candidate())
        ours.append(seconds)
        replayer.append(await _temporal_replayer(sources))
    planted = [n for n in candidates if not n.startswith("clean-")]
    return {
        "histories": len(conversations),
        "model_steps": steps,
        "candidates": outcome,
        "caught": sum(outcome[n]["caught"] for n in planted),
        "planted": len(planted),
        "false_alarms": sum(outcome[n]["caught"] for n in candidates if n.startswith("clean-")),
        "repeatable": all(len(set(s)) == 1 for s in signatures.values()),
        "repeats": repeats,
        "replay_seconds_median": statistics.median(ours),
        "temporal_replayer_seconds_median": statistics.median(replayer),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"replay regression over {result['histories']} recorded conversations ({result['model_steps']} model steps)",
        "",
        f"{'candidate':<28} {'caught':<7} {'histories':>9}  kinds  (what)",
    ]
    for name, row in result["candidates"].items():
        caught = "yes" if row["caught"] else "no"
        lines.append(
            f"{name:<28} {caught:<7} {row['histories_diverged']:>9}  {','.join(row['kinds']) or '-'}  ({row['what']})"
        )
    ours, base = result["replay_seconds_median"], result["temporal_replayer_seconds_median"]
    lines += [
        "",
        f"planted regressions caught: {result['caught']}/{result['planted']}",
        f"false alarms (clean candidates): {result['false_alarms']}",
        f"identical verdicts over {result['repeats']} repeats: {'yes' if result['repeatable'] else 'NO'}",
        f"replay of all recorded conversations: {ours:.2f} s median (goal < {GOAL_SECONDS:.0f} s)",
        f"baseline, Temporal Replayer over the same histories: {base:.2f} s median; ratio {ours / base:.2f}x",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks replay_regression", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the result as JSON to this file")
    args = parser.parse_args(argv)
    result = asyncio.run(run(max(1, args.repeats)))
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    ok = result["false_alarms"] == 0 and result["repeatable"]
    return 0 if ok else 1


_: Callable[[list[str] | None], int] = main
