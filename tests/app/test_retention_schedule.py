"""The daily retention schedule a worker creates at start: created once, left alone after, off on request."""

from __future__ import annotations

import pytest
from temporalio.client import ScheduleActionStartWorkflow

from app.retention_schedule import DAILY_CRON, ensure_retention_schedule
from contracts.names import WF_RETENTION
from contracts.privacy import RETENTION_SCHEDULE_ID, RETENTION_WORKFLOW_ID
from core.settings import Settings
from db.codec import connect


async def test_the_schedule_is_created_once_and_then_left_alone(
    migrated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await connect(migrated)
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    monkeypatch.setenv("AIAAS_RETENTION_SCHEDULE", "0")
    assert await ensure_retention_schedule(client, "retention-q") is False
    monkeypatch.delenv("AIAAS_RETENTION_SCHEDULE")
    created = await ensure_retention_schedule(client, "retention-q")
    try:
        # Another worker starting later (or this one restarting) finds it and changes nothing.
        assert await ensure_retention_schedule(client, "another-q") is False
        described = await handle.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == WF_RETENTION and action.id == RETENTION_WORKFLOW_ID
        assert action.task_queue == "retention-q" or not created
        # The server keeps the cron expression as its calendar form.
        assert described.schedule.spec.calendars or described.schedule.spec.cron_expressions == [DAILY_CRON]
    finally:
        if created:
            await handle.delete()
