"""Workflow code reads time, randomness and the environment only through Temporal.

Workers import the platform's workflow modules once per process and share them between runs (the shared
sandbox, `app.worker._workflow_runner`), so the sandbox no longer stands between a workflow module and
`datetime.now()` at run time; the replay suite (strict sandbox) catches such a call only on paths its
histories took. This check covers every path: a call below is refused wherever it is written.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.worker import SHARED_WORKFLOW_MODULES, _workflow_runner
from core.settings import Settings

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
# module name -> members whose result differs between a run and its replay (Temporal's own: `workflow.now()`,
# `workflow.random()`, `workflow.uuid4()`, `workflow.sleep()`).
FORBIDDEN = {
    "datetime": {"now", "utcnow", "today"},
    "date": {"today"},
    "time": {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "sleep", "localtime", "gmtime"},
    "random": None,  # every member
    "secrets": None,
    "uuid": {"uuid1", "uuid4"},
    "os": {"environ", "getenv", "urandom", "getpid"},
    "threading": None,
    "subprocess": None,
}
FORBIDDEN_BUILTINS = {"open", "input"}


def _offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in FORBIDDEN:
            members = FORBIDDEN[node.value.id]
            if members is None or node.attr in members:
                found.append(f"{node.lineno}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_BUILTINS:
            found.append(f"{node.lineno}: {node.func.id}()")
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN:
            members = FORBIDDEN[node.module]
            names = {alias.name for alias in node.names}
            if members is None or names & members:
                found.append(f"{node.lineno}: from {node.module} import {', '.join(sorted(names))}")
    return found


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.py")), ids=lambda p: p.name)
def test_workflow_modules_make_no_nondeterministic_call(path: Path) -> None:
    assert _offences(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\nx = datetime.now()\n",
        "import time\nasync def f():\n    time.sleep(1)\n",
        "import uuid\nx = uuid.uuid4()\n",
        "import os\nx = os.environ['A']\n",
        "import random\nx = random.random()\n",
        "from random import choice\n",
        "x = open('f')\n",
    ],
)
def test_the_check_finds_each_kind_of_call(source: str) -> None:
    assert _offences(source)


def test_the_deterministic_forms_pass() -> None:
    ok = "from temporalio import workflow\nx = workflow.now()\ny = workflow.uuid4()\nz = workflow.random().random()\n"
    assert _offences(ok) == []


def test_the_shared_sandbox_passes_the_platform_modules_through_and_the_strict_one_does_not() -> None:
    shared = _workflow_runner(Settings(workflow_sandbox_shared=True)).restrictions.passthrough_modules
    strict = _workflow_runner(Settings(workflow_sandbox_shared=False)).restrictions.passthrough_modules
    assert set(SHARED_WORKFLOW_MODULES) <= shared
    assert not set(SHARED_WORKFLOW_MODULES) & strict
