"""The worker's workflow-task polls: how many at once and the shared queue's share of them come from
settings, and the defaults give the shared queue (every run's first task, in fairness-key order) as many polls
as the sticky queue."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from temporalio.worker import PollerBehaviorSimpleMaximum

from app.worker import build_worker, workflow_task_polling
from core.settings import Settings


def test_defaults_share_polls_evenly_between_the_shared_and_the_sticky_queue() -> None:
    polling = workflow_task_polling(Settings())
    behaviour = polling["workflow_task_poller_behavior"]
    assert isinstance(behaviour, PollerBehaviorSimpleMaximum)
    # The SDK gives the shared queue `maximum * ratio` polls and the sticky queue the rest; its own defaults
    # (5 polls, ratio 0.2) leave the shared queue one.
    shared = int(behaviour.maximum * polling["nonsticky_to_sticky_poll_ratio"])
    assert shared >= 2
    assert shared == behaviour.maximum - shared


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_WORKER_WORKFLOW_TASK_POLLERS", "12")
    monkeypatch.setenv("AIAAS_WORKER_NONSTICKY_POLL_RATIO", "0.25")
    polling = workflow_task_polling(Settings())
    assert polling["workflow_task_poller_behavior"] == PollerBehaviorSimpleMaximum(12)
    assert polling["nonsticky_to_sticky_poll_ratio"] == 0.25


@pytest.mark.parametrize(
    ("name", "value"),
    [("worker_workflow_task_pollers", 1), ("worker_nonsticky_poll_ratio", 0.0), ("worker_nonsticky_poll_ratio", 1.5)],
)
def test_out_of_range_values_are_refused(name: str, value: float) -> None:
    # The SDK needs two workflow-task polls at least (one per queue); a share outside (0, 1] means nothing.
    with pytest.raises(ValidationError):
        Settings.model_validate({name: value})


async def test_the_platform_worker_polls_as_settings_say(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"worker_workflow_task_pollers": 8, "worker_nonsticky_poll_ratio": 0.75})
    async with build_worker(settings, task_queue=f"polling-{uuid.uuid4().hex[:8]}") as deps:
        config = deps.worker.config()
    assert config.get("workflow_task_poller_behavior") == PollerBehaviorSimpleMaximum(8)
    assert config.get("nonsticky_to_sticky_poll_ratio") == 0.75
