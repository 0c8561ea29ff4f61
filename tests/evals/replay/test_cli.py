"""`python -m evals.replay` end to end on the stored histories: reports and the exit status CI gates on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.replay.cli import main
from tests.evals.replay.conftest import HISTORIES


def test_the_recorded_settings_pass_and_a_flipped_router_threshold_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    assert main(["--histories", str(HISTORIES), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "summary" in text and "divergences by kind: route=0  tool=0" in text
    clean = json.loads(out.read_text())
    assert clean["summary"]["diverged"] == 0 and clean["summary"]["same"] >= 60
    assert any(p.endswith("refund_completed.json") for p in clean["not_conversations"])

    approval = str(HISTORIES / "conversation_approval.json")
    assert main(["--histories", approval, "--router-threshold", "0.99", "--json"]) == 1
    flipped = json.loads(capsys.readouterr().out)
    assert flipped["summary"]["kinds"]["route"] >= 1
    step = flipped["histories"][0]["steps"][0]
    assert step["status"] == "diverged" and step["details"]["route"] == {
        "recorded": "small",
        "candidate": "large",
        "p": step["details"]["route"]["p"],
    }


def test_a_prompt_file_and_another_model_show_text_and_tool_diffs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You answer in one word.")
    argv = ["--histories", str(HISTORIES / "conversation_tool_turn.json"), "--prompt-file", str(prompt)]
    assert main([*argv, "--model", "scripted/echo"]) == 1
    text = capsys.readouterr().out
    assert "turn 0 step 0 (support): diverged tool" in text
    assert "tools ['agents.handoff'] -> ['(answered)']" in text
    assert "turn 0 step 1 (orders): not_compared" in text


def test_unusable_input_is_exit_status_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--histories", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty.txt").write_text("")
    assert main(["--histories", str(HISTORIES), "--prompt-file", str(tmp_path / "empty.txt")]) == 2
    assert main(["--histories", str(HISTORIES), "--router-threshold", "1.5"]) == 2
    assert "must be between 0 and 1" in capsys.readouterr().err


def test_decoding_without_a_database_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DATABASE_URL", "AIAAS_DATABASE_URL", "AIAAS_APP_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--histories", str(HISTORIES / "conversation_tool_turn.json"), "--decode"]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err


def test_a_changed_tool_spec_from_a_file_is_a_gate_divergence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.evals.replay.conftest import conversation

    resolved = conversation("conversation_tool_turn").turns[0].steps[1].resolved
    assert resolved is not None
    spec = resolved.tool("orders.lookup")
    assert spec is not None
    schema = {**spec.input_schema, "properties": {"order_id": {"type": "integer"}}}
    changed = tmp_path / "lookup.json"
    changed.write_text(spec.model_copy(update={"input_schema": schema}).model_dump_json())
    history = str(HISTORIES / "conversation_tool_turn.json")
    assert main(["--histories", history, "--tool-file", str(changed)]) == 1
    assert "orders.lookup: run -> refused:ToolInputInvalid" in capsys.readouterr().out
    assert main(["--histories", history, "--drop-tool", "orders.lookup"]) == 1
    assert "orders.lookup: run -> refused:ToolNotAllowed" in capsys.readouterr().out
