"""Replay every recorded history through today's workflow code, with the same plugin the workers use.

The recorded histories stand for the runs in flight. A change that breaks replay of any of them ships behind
a `workflow.patched` patch or Temporal worker versioning, never as a plain edit: this test, run in CI, is
what catches one that does not. Re-recording (`just replay`, `python -m tests.workflows.record_histories`)
is only for changes that keep the recorded histories replaying: a new scenario, or new behaviour behind a
patch; then keep a copy of each history recorded before the patch (`<name>_pre_<patch>.json`) next to the
new recording, so both paths stay replayed until the patch is retired.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from app.workflows import WORKFLOWS
from contracts.names import ACT_DR_BACKUP, ACT_DR_RESTORE_VERIFY
from core.temporal_plugin import aiaas_plugin

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def _started(history: dict) -> dict:
    started = history["events"][0]
    attributes = started.get("workflowExecutionStartedEventAttributes") or started.get(
        "workflow_execution_started_event_attributes"
    )
    return dict(attributes)


def _workflow_type(history: dict) -> str:
    return str(_started(history)["workflowType"]["name"])


def _workflow_id(path: Path, history: dict) -> str:
    # Replayed under its recorded id: workflows derive child workflow ids from their own.
    return str(_started(history).get("workflowId") or f"replay-{path.stem}")


def test_every_workflow_has_recorded_histories() -> None:
    recorded = {_workflow_type(json.loads(path.read_text())) for path in HISTORIES}
    expected = {getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS}
    assert expected <= recorded, f"no recorded history for {sorted(expected - recorded)}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    text = path.read_text()
    history = WorkflowHistory.from_json(_workflow_id(path, json.loads(text)), text)
    replayer = Replayer(workflows=list(WORKFLOWS), plugins=[aiaas_plugin()])
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def _scheduled(history: dict, activity: str) -> int:
    """How many times the history schedules `activity`."""
    return sum(
        1
        for event in history["events"]
        if (event.get("activityTaskScheduledEventAttributes") or {}).get("activityType", {}).get("name") == activity
    )


@pytest.mark.parametrize(("name", "servers"), [("dr_drill_regions", 1), ("dr_drill_servers", 2)])
def test_regional_drill_histories_cover_both_shapes(name: str, servers: int) -> None:
    """The regional drill is replayed with a region on the control plane's server and with one on its own:
    the second backs up and restores two servers side by side."""
    history = json.loads((Path(__file__).parent / "histories" / f"{name}.json").read_text())
    assert (_scheduled(history, ACT_DR_BACKUP), _scheduled(history, ACT_DR_RESTORE_VERIFY)) == (servers, servers)
