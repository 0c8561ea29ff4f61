"""Loading golden suites: `evals/suites/<name>/*.yaml`, each a list of tasks under `tasks:`.

The YAML is data beside the `evals` package (installed with it as package data); it is read by path, so the
gateway and the CLI load suites without importing anything of the top layer.

Every task is validated by `contracts.evals.GoldenTask`; a broken file is refused with where the problem is
(file, task id, field), and task ids must be unique across a suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from contracts.evals import GoldenTask

SUITES_DIR = Path(__file__).resolve().parents[1] / "evals" / "suites"


class SuiteError(ValueError):
    """A suite that cannot be loaded; the message says which file, task and field."""


def suite_names(root: Path = SUITES_DIR) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def _where(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(task)"


def verdicts_path(name: str, root: Path = SUITES_DIR) -> Path:
    """The suite's recorded judge verdicts (JSON lines keyed by judging model and prompt), beside its tasks."""
    return root / name / "verdicts.jsonl"


def load_file(path: Path) -> list[GoldenTask]:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        raise SuiteError(f"{path}: expected a mapping with a `tasks:` list")
    tasks = []
    for position, item in enumerate(document["tasks"]):
        task_id = item.get("id", f"#{position}") if isinstance(item, dict) else f"#{position}"
        try:
            tasks.append(GoldenTask.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(f"{_where(e)}: {e['msg']}" for e in exc.errors())
            raise SuiteError(f"{path}: task {task_id}: {problems}") from exc
    return tasks


def load_suite(name: str, root: Path = SUITES_DIR) -> list[GoldenTask]:
    folder = root / name
    if not folder.is_dir():
        raise SuiteError(f"unknown suite {name!r}; known: {', '.join(suite_names(root)) or 'none'}")
    tasks: list[GoldenTask] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        for task in load_file(path):
            if task.id in seen:
                raise SuiteError(f"{path}: task {task.id}: duplicate id (also in {seen[task.id]})")
            seen[task.id] = path
            tasks.append(task)
    if not tasks:
        raise SuiteError(f"suite {name!r} has no tasks")
    return tasks
