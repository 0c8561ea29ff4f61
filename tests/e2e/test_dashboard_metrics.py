"""Every metric and label the Grafana dashboards and the SLO rules read is exported by the real processes.

A turn with a tool call runs through the gateway first, so the series a turn makes carry samples; their labels
are read off the samples. A family the turn leaves without samples (a circuit that never opened, a loop never
cut) still prints its name; its labels are then checked against the collector the process declares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.agent_world import Shop, answer, call, conversation, fresh_shop, plan, turn
from tests.e2e.platform import Platform
from tests.infra.promql_refs import BUILTIN, RULES, dashboard_references, dashboards, recorded_series, references

_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}


@pytest.fixture(scope="module")
def shop(platform: Platform) -> Iterator[Shop]:
    with fresh_shop(platform, "Dashboards") as opened:
        yield opened


def _exported(urls: list[str]) -> dict[str, set[str] | None]:
    """{series name: labels seen on its samples, or None when the family has no sample yet}."""
    series: dict[str, set[str] | None] = {}
    for url in urls:
        for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
            names = [family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))] or [family.name]
            for name in names:
                series.setdefault(name, None)
            labels: dict[str, set[str]] = defaultdict(set)
            for sample in family.samples:
                labels[sample.name] |= set(sample.labels)
            for name, seen in labels.items():
                series[name] = (series.get(name) or set()) | seen
    return series


def _declared_labels(series: str) -> set[str]:
    """The label names a collector of this process declares, for a family the turn left without samples."""
    for name, collector in REGISTRY._names_to_collectors.items():  # private: there is no public lookup by name
        if name == series:
            return set(getattr(collector, "_labelnames", ())) | {"le"}
    raise AssertionError(f"{series} is exported but not declared here")


def test_every_metric_and_label_the_dashboards_read_is_exported(platform: Platform, shop: Shop) -> None:
    import core.telemetry  # noqa: F401 - declares the families below, as the processes do
    import policies.circuit_breaker  # noqa: F401

    cid = conversation(shop.api, "orders", shop.demo.ada_id)
    mid, frames = turn(shop.api, cid, plan(call("orders.lookup", order_id=shop.demo.ada_placed_order_id)))
    assert answer(frames, mid) == "done: orders.lookup=ok"

    exported = _exported([f"{platform.base_url}/metrics", f"http://127.0.0.1:{platform.worker_metrics_port}/metrics"])
    assert exported.get("aiaas_turn_seconds_bucket"), "an answered turn observes its latency"

    recorded = recorded_series()
    wanted: dict[str, dict[str, set[str]]] = {}
    for dashboard in dashboards().values():
        wanted.update(dashboard_references(dashboard))
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            wanted[f"rule {rule.get('record') or rule.get('alert')}"] = references(rule["expr"])

    missing = []
    for where, refs in wanted.items():
        for metric, labels in refs.items():
            if ":" in metric or metric in BUILTIN:
                assert metric in recorded or metric in BUILTIN, f"{where}: {metric}"
                continue
            if metric not in exported:
                missing.append(f"{where}: no process exports {metric}")
                continue
            have = exported[metric]
            have = have if have is not None else _declared_labels(metric.removesuffix("_total"))
            if not labels <= have:
                missing.append(f"{where}: {metric} has no label {sorted(labels - have)}")
    assert not missing, "\n".join(missing)
