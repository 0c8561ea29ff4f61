"""The golden suite as data: enough tasks of every kind, and a broken file refused with where it broke."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from contracts.evals import REFERENCE
from evaluation.suites import SuiteError, load_file, load_suite, suite_names

KINDS = {
    "order-status", "cancellation", "refund", "refund-approval", "place-order", "lead-capture", "handoff",
    "out-of-scope", "refusal", "injection", "isolation", "ticket", "escalation",
}  # fmt: skip


def test_the_golden_suite_covers_the_three_agents_and_every_kind_of_task() -> None:
    tasks = load_suite("golden")
    assert "golden" in suite_names()
    assert len(tasks) >= 120
    by_agent = Counter(t.agent for t in tasks)
    assert set(by_agent) == {"support", "orders", "leads"} and min(by_agent.values()) >= 20
    assert {t.category for t in tasks} >= KINDS
    assert any(len(t.turns) > 1 for t in tasks) and any(t.plant for t in tasks)
    assert any(t.expect.tools.ordered for t in tasks) and any(not t.expect.tools.ordered for t in tasks)
    assert {t.turns[0].approval for t in tasks if t.category == "refund-approval"} == {"approve", "deny"}
    # Every reference names a record the demo world has.
    known = {"order:ada.placed", "order:ada.shipped", "order:bob.placed", "order:bob.shipped", "customer:ada"}
    known |= {"customer:bob"}
    for task in tasks:
        for kind, name in REFERENCE.findall(task.model_dump_json()):
            assert kind == "sku" or f"{kind}:{name}" in known, (task.id, kind, name)


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "broken"
    folder.mkdir(exist_ok=True)
    path = folder / "tasks.yaml"
    path.write_text(text)
    return path


def test_a_broken_task_is_refused_naming_file_task_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "tasks:\n- id: ok.one\n  agent: orders\n  turns: [{text: hi}]\n"
        "- id: bad.two\n  agent: orders\n  turns: [{text: hi}]\n  expect: {world: {tickets_opend: 1}}\n",
    )
    with pytest.raises(SuiteError) as err:
        load_file(path)
    message = str(err.value)
    assert str(path) in message and "task bad.two" in message and "expect.world.tickets_opend" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("- id: x\n  agent: sales\n  turns: [{text: hi}]\n", "unknown agent 'sales'"),
        ("- id: x\n  agent: orders\n  turns: []\n", "turns"),
        ("- id: x\n  agent: orders\n  turns: [{text: hi}]\n  expect: {answer: [{regex: '('}]}\n", "invalid regex"),
        ("- id: x\n  agent: orders\n  turns: [{text: hi}]\n  expect: {answer: [{}]}\n", "exactly one of"),
        ("- id: X Y\n  agent: orders\n  turns: [{text: hi}]\n", "id"),
    ],
)
def test_field_errors(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(SuiteError, match=expected):
        load_file(_write(tmp_path, "tasks:\n" + body))


def test_duplicate_ids_and_unknown_suites_are_refused(tmp_path: Path) -> None:
    _write(
        tmp_path, "tasks:\n- {id: a, agent: orders, turns: [{text: hi}]}\n- {id: a, agent: leads, turns: [{text: x}]}\n"
    )
    with pytest.raises(SuiteError, match="task a: duplicate id"):
        load_suite("broken", root=tmp_path)
    with pytest.raises(SuiteError, match="unknown suite 'nope'"):
        load_suite("nope", root=tmp_path)
    with pytest.raises(SuiteError, match="not valid YAML"):
        load_file(_write(tmp_path, "tasks: [\n"))
