"""The SLO rules load in Prometheus and their alerts fire at 14.4x and 6x burn and stay silent at 1x.

`promtool` comes with Debian's `prometheus` package, which `.ci/run` installs (and then sets
AIAAS_REQUIRE_TOOLS=1, so a missing promtool fails there instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.infra.promql_refs import RULES

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("AIAAS_REQUIRE_TOOLS"),
    reason="promtool not installed (apt-get install prometheus)",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "promtool is required here (apt-get install prometheus)"
    return subprocess.run([PROMTOOL, *args], cwd=RULES.parent, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_the_rules_load() -> None:
    checked = _promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 18 rules found" in checked.stdout


@needs_promtool
def test_the_burn_rate_alerts_fire_where_they_should_and_nowhere_else() -> None:
    tested = _promtool("test", "rules", "slo-rules.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
