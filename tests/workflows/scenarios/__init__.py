"""The scenarios `tests.workflows.record_histories` records: real runs of every workflow the platform has.

A scenario drives one situation on the platform's own worker (`app.worker.build_worker`, every workflow and
activity registered, the scripted models answering) and returns the handles of the runs whose histories are
kept, in order. It creates the tenants and data it needs, so it can be recorded on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowHandle

from core.events import EventBus
from core.settings import Settings
from db.database import Database
from tenancy.tenants import create_tenant


@dataclass(frozen=True)
class Recording:
    """What a scenario runs against: the worker's settings, a client, the app database, the event bus and the
    task queue the worker polls."""

    settings: Settings
    client: Client
    db: Database
    bus: EventBus
    queue: str

    async def new_tenant(self, name: str) -> str:
        created = await create_tenant(
            self.settings.database_url or "",
            name=f"{name} {uuid.uuid4().hex[:6]}",
            pepper=self.settings.api_key_pepper.get_secret_value(),
        )
        return created.tenant_id


Scenario = Callable[[Recording], Awaitable[list[WorkflowHandle[Any, Any]]]]
