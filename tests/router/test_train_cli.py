"""`aiaas router train`: a routing table in, a versioned artefact out, bad tables refused in one line."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.cli import main
from router.classifier import PassClassifier
from router.features import extract
from router.table import TableError, read_table


def _write_table(path: Path, prompts: int = 200, draws: int = 5) -> None:
    rng = random.Random(1)
    lines = []
    for i in range(prompts):
        hard = i % 2 == 0
        text = "Prove the theorem and solve the integral equation" if hard else "Where is my parcel today?"
        for _ in range(draws):
            small = int(rng.random() < (0.2 if hard else 0.9))
            row = {"key": f"task-{i}", "text": text, "small_pass": small, "large_pass": 1, "depth": i % 3}
            lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")


def test_train_writes_a_router_that_tells_hard_from_easy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, out = tmp_path / "table.jsonl", tmp_path / "router.json"
    _write_table(table)
    assert main(["router", "train", "--table", str(table), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    clf = PassClassifier.load(out)
    assert printed["version"] == clf.version and printed["ece"] == clf.ece
    assert clf.predict(extract("Where is my parcel today?")) > 0.7
    assert clf.predict(extract("Prove the theorem and solve the integral equation")) < 0.35


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ('{"key": "k", "text": "t", "small_pass": 2, "large_pass": 1}', "small_pass must be 0 or 1"),
        ('{"text": "t", "small_pass": 1, "large_pass": 1}', "text and key"),
        ('{"key": "k", "text": "t", "small_pass": 1, "large_pass": 1, "depth": "deep"}', "line 1"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_a_bad_table_is_refused_with_its_line(line: str, message: str) -> None:
    with pytest.raises(TableError, match=message):
        read_table([line])


def test_the_command_refuses_a_table_too_small_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "table.jsonl"
    table.write_text('{"key": "k", "text": "t", "small_pass": 1, "large_pass": 1}\n')
    assert main(["router", "train", "--table", str(table), "--out", str(tmp_path / "r.json")]) == 1
    assert capsys.readouterr().err.startswith("aiaas: a routing table needs")
    assert main(["router", "train", "--table", str(tmp_path / "missing"), "--out", str(tmp_path / "r.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["router", "train", "--table", str(table)]) == 1
    assert "--out PATH, --tenant ID" in capsys.readouterr().err
