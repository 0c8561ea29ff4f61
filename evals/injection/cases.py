"""Loading the benchmark's cases from `cases.yaml`: benign tasks, and injections riding on one of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.injection.harness import Case
from evals.injection.world import IDS

CASES_FILE = Path(__file__).with_name("cases.yaml")
# Longest first, so `ada.placed2` is replaced before `ada.placed`.
_KEYS = sorted(IDS, key=len, reverse=True)


def _ids_in(text: str) -> str:
    """An injection names records by key like the tasks do; in the world they are ids (an upper-case key
    stands for the id in upper case, one of the obfuscations)."""
    for key in _KEYS:
        text = text.replace(f'"{key}"', f'"{IDS[key]}"').replace(f'"{key.upper()}"', f'"{IDS[key].upper()}"')
    return text


def load(path: Path = CASES_FILE) -> tuple[list[Case], list[Case]]:
    """(benign tasks, injection cases)."""
    doc: dict[str, Any] = yaml.safe_load(path.read_text())
    benign = {
        item["id"]: Case(id=item["id"], agent=item["agent"], plan=item["plan"], say=item.get("say", ""))
        for item in doc["benign"]
    }
    injections = []
    for item in doc["injections"]:
        task = benign[item["task"]]
        injections.append(
            Case(
                id=item["id"],
                agent=task.agent,
                plan=task.plan,
                say=task.say,
                plant=item["plant"],
                injection=_ids_in(item["injection"]),
                goal=item["goal"],
                target=item["target"],
                style=f"{item['style']}/{item['variant']}",
                carrier=item["carrier"],
            )
        )
    return list(benign.values()), injections
