"""The replay's report: per history and step the verdict, the kinds of divergence and their diffs, and a
summary table; as JSON (for machines and CI artefacts) or as text (for people)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evals.replay.runner import DIVERGED, NOT_COMPARED, SAME, SKIPPED, HistoryVerdict

KINDS = ("route", "tool", "arguments", "answer", "gate", "error")


def totals(verdicts: list[HistoryVerdict]) -> dict[str, Any]:
    statuses = Counter(s.status for v in verdicts for s in v.steps)
    kinds = Counter(kind for v in verdicts for s in v.steps for kind in s.kinds)
    return {
        "histories": len(verdicts),
        "histories_diverged": sum(v.diverged for v in verdicts),
        "steps": sum(len(v.steps) for v in verdicts),
        **{status: statuses.get(status, 0) for status in (SAME, DIVERGED, NOT_COMPARED, SKIPPED)},
        "kinds": {kind: kinds.get(kind, 0) for kind in KINDS},
    }


def as_json(verdicts: list[HistoryVerdict], candidate: str, skipped_files: list[str] | None = None) -> dict[str, Any]:
    return {
        "candidate": candidate,
        "summary": totals(verdicts),
        "histories": [asdict(v) | {"diverged": v.diverged} for v in verdicts],
        "not_conversations": skipped_files or [],
    }


def dumps(verdicts: list[HistoryVerdict], candidate: str, skipped_files: list[str] | None = None) -> str:
    return json.dumps(as_json(verdicts, candidate, skipped_files), indent=1, default=str)


def _detail_lines(details: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for kind, detail in details.items():
        if kind == "answer":
            lines += [f"      {line}" for line in detail["diff"]]
        elif kind == "arguments":
            for call in detail["calls"]:
                for change in call["changes"]:
                    before = json.dumps(change.get("recorded"), default=str)
                    after = json.dumps(change.get("candidate"), default=str)
                    lines.append(f"      {call['tool']} {change['path']} {change['op']}: {before} -> {after}")
        elif kind == "gate":
            lines += [f"      {g['tool']}: {g['recorded']} -> {g['candidate']} ({g['message'][:120]})" for g in detail]
        elif kind == "tool":
            lines.append(f"      tools {detail['recorded']} -> {detail['candidate']}")
        elif kind == "route":
            lines.append(f"      tier {detail['recorded']} -> {detail['candidate']} (p_small_pass {detail['p']})")
        else:
            lines.append(f"      {kind}: {json.dumps(detail, default=str)[:300]}")
    return lines


def as_text(verdicts: list[HistoryVerdict], candidate: str) -> str:
    lines = [f"replay against: {candidate}", ""]
    for v in verdicts:
        mark = "DIVERGED" if v.diverged else "same"
        lines.append(f"{v.source}  [{mark}]")
        lines += [f"  note: {note}" for note in v.notes]
        for s in v.steps:
            kinds = f" {','.join(s.kinds)}" if s.kinds else ""
            lines.append(f"  turn {s.turn} step {s.step} ({s.agent}): {s.status}{kinds}")
            if s.status == DIVERGED:
                lines.append(f"      recorded:  {s.recorded}")
                lines.append(f"      candidate: {s.candidate}")
                lines += _detail_lines(s.details)
            elif s.note:
                lines.append(f"      {s.note}")
    lines += ["", "per history", f"{'history':<60} {'steps':>5} {'same':>5} {'diverged':>8}  kinds"]
    for v in verdicts:
        statuses = Counter(s.status for s in v.steps)
        kinds = ",".join(sorted({k for s in v.steps for k in s.kinds})) or "-"
        name = Path(v.source).name
        lines.append(f"{name:<60} {len(v.steps):>5} {statuses[SAME]:>5} {statuses[DIVERGED]:>8}  {kinds}")
    t = totals(verdicts)
    header = f"{'histories':>10} {'diverged':>9} {'steps':>6} {'same':>5} {'diverged':>9} {'not cmp':>8} {'skipped':>8}"
    row = (
        f"{t['histories']:>10} {t['histories_diverged']:>9} {t['steps']:>6} {t[SAME]:>5} {t[DIVERGED]:>9}"
        f" {t[NOT_COMPARED]:>8} {t[SKIPPED]:>8}"
    )
    kinds = "  ".join(f"{k}={n}" for k, n in t["kinds"].items())
    lines += ["", "summary", header, row, f"divergences by kind: {kinds}"]
    return "\n".join(lines)
