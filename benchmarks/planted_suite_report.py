"""What `python -m benchmarks planted_suite` reports: per planted regression whether the replay, the golden
suite or both caught it, the clean controls' false alarms and repeatability, and the run times; as a dict
(`--json`) and as the table printed.
"""

from __future__ import annotations

import json
from typing import Any

CLEAN = {"clean-recorded": "", "clean-planted-agent": "planted/agent"}
NOT_IN_SUITE = {"router-threshold-flip": "the suite's agents are pinned to models; no decision reads the threshold"}


def combine(
    replay: dict[str, Any], suite: dict[str, list[dict[str, Any]]], tasks: int, models: dict[str, str]
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for name, outcome in replay["candidates"].items():
        runs = suite.get(name, [])
        in_suite = bool(runs)
        control = "clean-planted-agent" if models.get(name, "").startswith("planted/") else "clean-recorded"
        baseline = suite.get(control, [{"failed": [], "signature": []}])[0]
        if name.startswith("clean-"):
            # A control is alarmed when it fails a task, or (planted/agent, which fails none of the subset) any
            # repeat differs from its first run.
            suite_caught = in_suite and any(r["failed"] or r["signature"] != runs[0]["signature"] for r in runs)
        else:
            suite_caught = in_suite and any(r["signature"] != baseline["signature"] for r in runs)
        rows[name] = {
            "what": outcome["what"],
            "replay": outcome["caught"],
            "suite": suite_caught if in_suite else None,
            "suite_model": models.get(name, ""),
            "suite_failed": sorted({t for r in runs for t in r["failed"]} - set(baseline["failed"])),
            "suite_note": NOT_IN_SUITE.get(name, ""),
            "caught": outcome["caught"] or suite_caught,
        }
    planted = [n for n in rows if not n.startswith("clean-")]
    clean = [n for n in rows if n.startswith("clean-")]
    suite_seconds = [r["seconds"] for runs in suite.values() for r in runs]
    return {
        "tasks": tasks,
        "rows": rows,
        "planted": len(planted),
        "caught_together": sum(rows[n]["caught"] for n in planted),
        "caught_replay": sum(bool(rows[n]["replay"]) for n in planted),
        "caught_suite": sum(bool(rows[n]["suite"]) for n in planted),
        "planted_in_suite": sum(rows[n]["suite"] is not None for n in planted),
        "false_alarms": sum(bool(rows[n]["replay"]) or bool(rows[n]["suite"]) for n in clean),
        "suite_repeatable": all(len({json.dumps(r["signature"]) for r in suite[n]}) == 1 for n in CLEAN),
        "replay_repeatable": replay["repeatable"],
        "repeats": replay["repeats"],
        "suite_run_seconds_median": sorted(suite_seconds)[len(suite_seconds) // 2] if suite_seconds else 0.0,
        "replay_seconds_median": replay["replay_seconds_median"],
        "temporal_replayer_seconds_median": replay["temporal_replayer_seconds_median"],
    }


def render(result: dict[str, Any]) -> str:
    def mark(value: bool | None) -> str:
        return "n/a" if value is None else ("yes" if value else "no")

    lines = [f"{'regression':<28} {'replay':<7} {'suite':<6} {'both':<5} suite tasks failed / what", ""]
    for name, row in result["rows"].items():
        failed = ", ".join(row["suite_failed"][:4]) + (" ..." if len(row["suite_failed"]) > 4 else "")
        note = failed or row["suite_note"] or "-"
        lines.append(
            f"{name:<28} {mark(row['replay']):<7} {mark(row['suite']):<6} {mark(row['caught']):<5} {note}"
            f"  ({row['what']})"
        )
    lines += [
        "",
        f"planted regressions caught by replay and suite together: {result['caught_together']}/{result['planted']}"
        f" (replay alone {result['caught_replay']}, suite alone {result['caught_suite']}"
        f" of {result['planted_in_suite']} planted in it)",
        f"false alarms (clean controls, replay or suite): {result['false_alarms']}",
        f"identical verdicts over {result['repeats']} clean repeats: suite"
        f" {'yes' if result['suite_repeatable'] else 'NO'}, replay {'yes' if result['replay_repeatable'] else 'NO'}",
        f"suite run of {result['tasks']} tasks: {result['suite_run_seconds_median']:.1f} s median;"
        f" replay of all recordings: {result['replay_seconds_median']:.2f} s median, baseline Temporal Replayer"
        f" {result['temporal_replayer_seconds_median']:.2f} s",
    ]
    return "\n".join(lines)
