"""`CanaryWorkflow` trying an agent version or a routing threshold, on the platform's own worker, over turns
seeded in both arms.

An agent version no worse than the active one is promoted: it becomes the active version the way a roll back
in the console does (saved again as the next version, audited `agent.saved`), and the router's canary ends;
one that fails more is rolled back and the active version stays. A threshold is promoted into the tenant's
router settings, or rolled back leaving them. Another tenant's agents and settings never change.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from agents.definitions import find_agent, save_agent
from app.tools import platform_registry
from contracts.agents import AgentDefinition
from contracts.canary import AgentVersionSubject, CanaryAbort, CanaryStatus, RouterThresholdSubject
from contracts.events import EventType
from core.events import EventBus
from db.database import Database
from router import settings_store
from router.canary import SubjectCanary
from tests.router.canary_seed import open_canary, seed_arms
from tests.router.conftest import Running
from tests.router.test_canary_workflow import LENIENT, _start, _stored, _tenant

pytestmark = pytest.mark.timeout(180)


async def _versions(db: Database, tenant: str, *prompts: str) -> None:
    base = AgentDefinition(name="desk", description="the desk", system_prompt="-")
    async with db.tenant_session(tenant) as session:
        for prompt in prompts:
            definition = base.model_copy(update={"system_prompt": prompt})
            await save_agent(session, tenant, definition, "test", registry=platform_registry())


async def _active(db: Database, tenant: str) -> tuple[int, str]:
    async with db.tenant_session(tenant) as session:
        found = await find_agent(session, "desk")
    assert found is not None
    return found.version, found.definition.system_prompt


async def _audit(db: Database, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    async with db.tenant_session(tenant) as session:
        rows = await (await session.connection()).execute(
            text(
                "SELECT action, details FROM audit.events WHERE tenant_id = :t"
                " AND (action LIKE 'router.canary%' OR action = 'agent.saved') ORDER BY seq"
            ),
            {"t": tenant},
        )
        return [(r.action, dict(r.details or {})) for r in rows]


async def test_an_agent_version_no_worse_than_the_active_one_becomes_active(
    running: Running, app_database: Database, events: EventBus
) -> None:
    tenant, other = await _tenant(running), await _tenant(running)
    await _versions(app_database, tenant, "Answer in English.", "Answer in French.")
    await _versions(app_database, other, "Another tenant's desk.")
    subject = AgentVersionSubject(agent="desk", version=1, control_version=2)
    canary = await open_canary(app_database, tenant, rule=LENIENT, subject=subject)
    assert isinstance(canary.assignment, SubjectCanary)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200, agent="desk")
    # Turns of another agent are not the canary's arms.
    await seed_arms(app_database, tenant, canary.assignment, per_arm=50, agent="orders", canary_failures=0.9)
    result = await (await _start(running, canary)).result()
    assert result.status == CanaryStatus.PROMOTED, result

    # Version 1 is active again, as the newest version (3), through the audited save.
    assert await _active(app_database, tenant) == (3, "Answer in English.")
    audit = await _audit(app_database, tenant)
    saved = [details for action, details in audit if action == "agent.saved"]
    assert saved[-1]["version"] == 3 and saved[-1]["restored_from"] == 1 and saved[-1]["canary_id"] == canary.id
    assert [action for action, _ in audit][-2:] == ["agent.saved", "router.canary_promoted"]
    routing = await settings_store.load(app_database, tenant)
    assert routing.settings.subject_canary is None and routing.settings.tier_models == ()
    stored = await _stored(app_database, canary)
    assert stored.last_check is not None and stored.last_check["canary_turns"] == 200  # the desk's turns only
    published = [e for e in await events.history(tenant, "_operations") if e.type == EventType.CANARY_PROMOTED]
    assert len(published) == 1 and published[0].data["kind"] == "agent_version"
    # Nothing of it reached another tenant.
    assert await _active(app_database, other) == (1, "Another tenant's desk.")


async def test_an_agent_version_that_fails_more_is_rolled_back_and_the_active_one_stays(
    running: Running, app_database: Database
) -> None:
    tenant = await _tenant(running)
    await _versions(app_database, tenant, "Answer in English.", "Answer in French.")
    subject = AgentVersionSubject(agent="desk", version=1, control_version=2)
    canary = await open_canary(app_database, tenant, rule=LENIENT, subject=subject)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200, agent="desk", canary_failures=0.4)
    result = await (await _start(running, canary)).result()
    assert result.status == CanaryStatus.ROLLED_BACK and "error_rate" in result.reason, result
    assert await _active(app_database, tenant) == (2, "Answer in French.")
    assert [action for action, _ in await _audit(app_database, tenant)][-1] == "router.canary_rolled_back"
    assert (await settings_store.load(app_database, tenant)).settings.subject_canary is None


async def test_a_threshold_canary_sets_its_share_and_is_promoted_into_the_settings(
    running: Running, app_database: Database
) -> None:
    tenant, other = await _tenant(running), await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT, subject=RouterThresholdSubject(threshold=0.42))
    await seed_arms(app_database, tenant, canary.assignment, per_arm=200)
    result = await (await _start(running, canary)).result()
    assert result.status == CanaryStatus.PROMOTED, result
    routing = await settings_store.load(app_database, tenant)
    assert routing.settings.threshold == 0.42 and routing.settings.subject_canary is None
    assert (await settings_store.load(app_database, other)).settings.threshold is None


async def test_a_running_threshold_canary_is_the_routers_until_aborted(
    running: Running, app_database: Database
) -> None:
    tenant = await _tenant(running)
    canary = await open_canary(app_database, tenant, rule=LENIENT, subject=RouterThresholdSubject(threshold=0.3))
    handle = await _start(running, canary)
    async with asyncio.timeout(60):
        while (await _stored(app_database, canary)).checks < 1:
            await asyncio.sleep(0.2)
    # Begun: the router reads the canary, with the id its arms are split by.
    assert (await settings_store.load(app_database, tenant)).settings.subject_canary == canary.assignment
    await handle.execute_update("abort", CanaryAbort(actor="owner", reason="enough"), result_type=str)
    assert (await handle.result()).status == CanaryStatus.ROLLED_BACK
    routing = await settings_store.load(app_database, tenant)
    assert routing.settings.subject_canary is None and routing.settings.threshold is None
