"""What a PromQL expression reads: every metric it selects and the labels it relies on for each.

A dashboard or rule that names a metric or label no process exports draws an empty panel or never fires, and
nothing else would tell. The labels counted for a metric are those of its own matchers and those of every
aggregation (`by`, `without`) and vector matching (`on`, `ignoring`, `group_left`) above it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import promql_parser as promql

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "infra" / "grafana"
RULES = ROOT / "infra" / "prometheus" / "slo-rules.yaml"

# Series Prometheus makes itself: firing alerts.
BUILTIN = {"ALERTS": {"alertname", "alertstate", "severity", "slo"}}
# `label_values(metric, label)` in a dashboard variable.
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*([a-zA-Z_]\w*)\s*\)")
# A Grafana variable stands where PromQL wants a literal; any placeholder that parses will do.
_VARIABLE = re.compile(r"\$\{?\w+\}?")


def references(expr: str) -> dict[str, set[str]]:
    """{metric: labels} for one expression (raises ValueError when it does not parse)."""
    found: dict[str, set[str]] = defaultdict(set)
    _visit(promql.parse(_VARIABLE.sub("x", expr)), frozenset(), found)
    return dict(found)


def _visit(node: Any, inherited: frozenset[str], found: dict[str, set[str]]) -> None:
    if isinstance(node, promql.VectorSelector):
        if node.name:
            found[node.name] |= inherited | {m.name for m in node.matchers.matchers}
        return
    if isinstance(node, promql.MatrixSelector):
        _visit(node.vector_selector, inherited, found)
        return
    if isinstance(node, promql.AggregateExpr):
        labels = set(node.modifier.labels) if node.modifier is not None else set()
        _visit(node.expr, inherited | labels, found)
        if node.param is not None:
            _visit(node.param, inherited, found)
        return
    if isinstance(node, promql.BinaryExpr):
        labels: set[str] = set()
        if node.modifier is not None:
            if node.modifier.matching is not None:
                labels |= set(node.modifier.matching.labels)
            labels |= set(node.modifier.group_labels or ())
        _visit(node.lhs, inherited | labels, found)
        _visit(node.rhs, inherited | labels, found)
        return
    if isinstance(node, promql.Call):
        for arg in node.args:
            _visit(arg, inherited, found)
        return
    inner = getattr(node, "expr", None)
    if inner is not None:
        _visit(inner, inherited, found)


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(GRAFANA.glob("*.json"))}


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target of a dashboard."""
    return [
        (f"{dashboard['uid']} / {panel['title']}", target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def dashboard_references(dashboard: dict[str, Any]) -> dict[str, dict[str, set[str]]]:
    """{where: {metric: labels}} for every panel target and `label_values` variable of a dashboard."""
    refs: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for where, expr in dashboard_queries(dashboard):
        for metric, labels in references(expr).items():
            refs[where][metric] = refs[where].get(metric, set()) | labels
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        for metric, label in _LABEL_VALUES.findall(text):
            refs[f"{dashboard['uid']} / ${variable['name']}"][metric] = {label}
    return dict(refs)


def recorded_series() -> dict[str, set[str]]:
    """{recorded series: labels it keeps} for every recording rule in the SLO rules."""
    import yaml

    series: dict[str, set[str]] = {}
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                expr = promql.parse(rule["expr"])
                kept = set(expr.modifier.labels) if isinstance(expr, promql.AggregateExpr) and expr.modifier else set()
                series[rule["record"]] = kept
    return series
