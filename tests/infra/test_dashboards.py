"""The Grafana dashboards and the SLO rules, read without a running Prometheus.

That every metric and label they name is exported by the real processes is checked in
tests/e2e/test_dashboard_metrics.py, which runs a turn first.
"""

from __future__ import annotations

import re

import pytest

from tests.infra.promql_refs import BUILTIN, dashboard_queries, dashboard_references, dashboards, recorded_series

DASHBOARDS = dashboards()


def test_the_four_dashboards_are_there() -> None:
    assert set(DASHBOARDS) == {"overview", "tenant", "cost", "slo"}
    assert len({d["uid"] for d in DASHBOARDS.values()}) == 4


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_a_dashboard_is_well_formed(name: str) -> None:
    dashboard = DASHBOARDS[name]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    for panel in dashboard["panels"]:
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
            assert used <= variables, f"{panel['title']} uses an undefined variable"
    # Every query parses (references() raises on a syntax error).
    assert dashboard_references(dashboard)
    assert len(dashboard_queries(dashboard)) >= len(dashboard["panels"])


def test_recorded_series_that_dashboards_read_exist_with_their_labels() -> None:
    recorded = recorded_series()
    assert recorded, "no recording rules"
    for dashboard in DASHBOARDS.values():
        for where, refs in dashboard_references(dashboard).items():
            for metric, labels in refs.items():
                if ":" in metric:
                    assert metric in recorded, f"{where}: {metric} is not recorded by slo-rules.yaml"
                    assert labels <= recorded[metric], f"{where}: {metric} keeps no {labels - recorded[metric]}"
                elif metric in BUILTIN:
                    assert labels <= BUILTIN[metric], where
