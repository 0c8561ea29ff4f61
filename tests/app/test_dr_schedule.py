"""The weekly DR drill schedule a worker creates at start: created once, left alone after, off on request, at
the time `AIAAS_DR_DRILL_CRON` names."""

from __future__ import annotations

import pytest
from temporalio.client import ScheduleActionStartWorkflow

from app.dr_schedule import ensure_dr_schedule
from contracts.dr import DEFAULT_DR_CRON, DR_SCHEDULE_ID, DR_WORKFLOW_ID_PREFIX
from contracts.names import WF_DR_DRILL
from core.settings import Settings
from db.codec import connect


async def test_the_drill_schedule_is_created_once_and_then_left_alone(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert migrated.dr_drill_cron == DEFAULT_DR_CRON
    client = await connect(migrated)
    handle = client.get_schedule_handle(DR_SCHEDULE_ID)
    monkeypatch.setenv("AIAAS_DR_DRILL_SCHEDULE", "0")
    assert await ensure_dr_schedule(client, migrated) is False
    monkeypatch.delenv("AIAAS_DR_DRILL_SCHEDULE")
    created = await ensure_dr_schedule(client, migrated.model_copy(update={"task_queue": "dr-q"}))
    try:
        assert await ensure_dr_schedule(client, migrated.model_copy(update={"task_queue": "other-q"})) is False
        described = await handle.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == WF_DR_DRILL and action.id == DR_WORKFLOW_ID_PREFIX
        assert action.task_queue == "dr-q" or not created
        # Weekly: the server keeps the cron expression as its calendar form (Sunday, 03:00).
        spec = described.schedule.spec
        if spec.calendars:
            assert [r.start for r in spec.calendars[0].day_of_week] == [0]
            assert [r.start for r in spec.calendars[0].hour] == [3]
        else:
            assert spec.cron_expressions == [DEFAULT_DR_CRON]
    finally:
        if created:
            await handle.delete()
