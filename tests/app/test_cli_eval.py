"""`aiaas eval` against the running platform: a filtered run with progress, its report, a comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import Settings
from tests.app.conftest import run
from tests.e2e.agent_world import fresh_shop
from tests.e2e.platform import Platform


def test_run_report_and_compare(
    platform: Platform, cli_env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with fresh_shop(platform, "Eval owner") as shop:
        tenant = shop.tenant_id
    page = tmp_path / "run.html"
    code, out, err = run(
        capsys, "eval", "run", "--suite", "golden", "--tenant", tenant, "--tasks", "orders.cancel.*.placed.0",
        "--report", str(page), "--min-pass-rate", "1",
    )  # fmt: skip
    assert code == 0, err
    first = json.loads(out)
    assert (first["total"], first["passed"], first["pass_rate"]) == (2, 2, 1.0)
    assert "2/2 done, 2 passed" in err
    html = page.read_text()
    assert html.count("<details") == 2 and "orders.cancel.ada.placed.0" in html
    # The same tasks on a model that never calls a tool: below the bar, exit 1.
    code, out, err = run(
        capsys, "eval", "run", "--suite", "golden", "--tenant", tenant, "--tasks", "orders.cancel.*.placed.0",
        "--model", "scripted/echo", "--min-pass-rate", "1",
    )  # fmt: skip
    second = json.loads(out)
    assert code == 1 and second["passed"] == 0 and "below" in err
    code, out, err = run(capsys, "eval", "compare", first["run_id"], second["run_id"], "--tenant", tenant)
    assert code == 0, err
    assert "pass rate" in out and "100.0% -> " in out and out.count("broken ") == 2
    code, out, err = run(capsys, "eval", "report", second["run_id"], "--tenant", tenant, "--out", str(page))
    assert code == 0 and json.loads(out)["tasks"] == 2 and "FAIL" in page.read_text()
    # The judge replays recorded verdicts only: none recorded, no --record, so no model is asked.
    verdicts = tmp_path / "verdicts.jsonl"
    args = ("eval", "judge", first["run_id"], "--tenant", tenant, "--model", "gpt-4o-mini", "--recordings")
    code, out, err = run(capsys, *args, str(verdicts))
    assert code != 0 and "no recorded verdict" in err and not verdicts.exists()


def test_bad_options_are_one_line_errors(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "eval", "run", "--suite", "nope", "--tenant", "t")
    assert code != 0 and "unknown suite 'nope'" in err
    code, _out, err = run(capsys, "eval", "run", "--suite", "golden", "--tenant", "t", "--tasks", "zzz*")
    assert code != 0 and "no task of suite 'golden' matches 'zzz*'" in err
    code, _out, err = run(capsys, "eval", "run", "--suite", "golden", "--tenant", "t", "--concurrency", "99")
    assert code != 0 and "--concurrency" in err
    code, _out, err = run(capsys, "eval", "run", "--suite", "golden", "--tenant", "t", "--agent-version", "orders")
    assert code != 0 and "--agent-version" in err and "NAME@VERSION" in err
    code, _out, err = run(capsys, "eval", "run", "--suite", "golden", "--tenant", "t", "--eval-tenant-retention", "-1")
    assert code != 0 and "--eval-tenant-retention" in err
