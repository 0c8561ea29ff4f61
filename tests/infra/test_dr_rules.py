"""The DR drill alerts load in Prometheus: a failed drill pages, a drill that stopped running or missed its
RPO/RTO goals makes a ticket, a good weekly drill is silent (`promtool test rules`, see test_prometheus_rules.py
for where promtool comes from)."""

from __future__ import annotations

from tests.infra.test_prometheus_rules import _promtool, needs_promtool


@needs_promtool
def test_the_dr_rules_load() -> None:
    checked = _promtool("check", "rules", "dr-rules.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


@needs_promtool
def test_the_dr_alerts_fire_where_they_should_and_nowhere_else() -> None:
    tested = _promtool("test", "rules", "dr-rules.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
