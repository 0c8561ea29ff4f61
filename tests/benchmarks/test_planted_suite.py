"""The planted-regressions benchmark's own logic: the task subset covers what the regressions touch, a swapped
tool spec is put back after its run, and a regression counts as caught only against its own clean control."""

from __future__ import annotations

from app.tools import platform_registry
from benchmarks.planted_suite import REFUSAL_CATEGORIES, shipped_agents, subset, swapped_tools
from benchmarks.planted_suite_report import combine
from benchmarks.replay_regression import regressions
from evaluation.suites import load_suite


def test_the_subset_walks_over_every_tool_the_regressions_touch() -> None:
    tasks = subset(load_suite("golden"))
    assert 15 <= len(tasks) <= 30 and not {t.category for t in tasks} & REFUSAL_CATEGORIES
    planned = {(t.agent, step["tool"]) for t in tasks for turn in t.turns for step in turn.plan or [] if "tool" in step}
    for agent, tool in [
        ("orders", "orders.lookup"),
        ("orders", "orders.cancel"),
        ("orders", "orders.place"),
        ("orders", "orders.refund"),
        ("support", "orders.lookup"),
        ("support", "agents.handoff"),
        ("orders", "agents.handoff"),
        ("leads", "leads.capture"),
    ]:
        assert (agent, tool) in planned
    # Both sides of the refund approval threshold.
    assert {"refund", "refund-approval"} <= {t.category for t in tasks}


def test_a_swapped_tool_spec_is_put_back() -> None:
    registry = platform_registry()
    planted = regressions(shipped_agents(registry))
    before = [item.spec for item in registry.all()]
    removed = planted["tool-removed"][1].tools
    changed = planted["approval-threshold-raised"][1].tools
    with swapped_tools(registry, dict(removed)):
        assert registry.get("orders.place") is None
    with swapped_tools(registry, dict(changed)):
        refund = registry.get("orders.refund")
        assert refund is not None and refund.spec.approval == changed["orders.refund"].approval  # type: ignore[union-attr]
    assert [item.spec for item in registry.all()] == before


def test_caught_means_different_from_the_clean_run_on_the_same_kind_of_model() -> None:
    def run(failed: list[str]) -> dict[str, object]:
        return {"seconds": 1.0, "failed": failed, "signature": [[t, False] for t in failed]}

    replay = {
        "candidates": {
            name: {"what": name, "caught": name != "clean-recorded" and name != "clean-planted-agent"}
            for name in ("clean-recorded", "clean-planted-agent", "model-rephrase", "tool-removed", "router-flip")
        },
        "repeatable": True,
        "repeats": 2,
        "replay_seconds_median": 1.0,
        "temporal_replayer_seconds_median": 2.0,
    }
    suite = {
        "clean-recorded": [run([]), run([])],
        "clean-planted-agent": [run([]), run([])],
        "model-rephrase": [run(["a"])],
        "tool-removed": [run([])],
    }
    models = {"clean-planted-agent": "planted/agent", "model-rephrase": "planted/rephrase"}
    result = combine(replay, suite, 20, models)  # type: ignore[arg-type]
    rows = result["rows"]
    assert rows["model-rephrase"]["suite"] is True and rows["tool-removed"]["suite"] is False
    assert rows["router-flip"]["suite"] is None and rows["router-flip"]["caught"] is True
    assert (result["caught_together"], result["caught_suite"], result["false_alarms"]) == (3, 1, 0)
    assert result["suite_repeatable"]
    suite["clean-recorded"].append(run(["b"]))
    assert combine(replay, suite, 20, models)["false_alarms"] == 1  # type: ignore[arg-type]
