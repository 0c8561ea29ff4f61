"""`--agent-version`: an eval run evaluates the owner's saved agent versions, each task's eval tenant resolving
to them; a version the owner does not have (another tenant's included) is refused before anything runs."""

from __future__ import annotations

import uuid

import pytest

from agents.definitions import save_agent, shipped_agents
from app.tools import platform_registry
from contracts.evals import GoldenTask
from core.settings import Settings
from db.database import run_sql
from evaluation import agent_versions, store
from evaluation.agent_versions import AgentVersionInvalid, AgentVersionNotFound
from evaluation.starter import start_run
from evaluation.suites import load_suite
from tenancy.tenants import create_tenant
from tests.evals.conftest import Evals


def test_agent_versions_parse_and_refuse_what_is_malformed() -> None:
    assert agent_versions.parse("") == {}
    assert agent_versions.parse(" support@2 , orders@13") == {"support": 2, "orders": 13}
    assert agent_versions.canonical(agent_versions.parse("support@2,orders@13")) == "orders@13,support@2"
    for bad in ("orders", "orders@", "orders@x", "orders@-1", "orders@01", "Orders@1", "orders@1,orders@2", "@3"):
        with pytest.raises(AgentVersionInvalid):
            agent_versions.parse(bad)


def _tasks() -> list[GoldenTask]:
    return [t for t in load_suite("golden") if t.id == "orders.cancel.ada.placed.0"]


async def _save(evals: Evals, tenant_id: str, drop: str | None = None) -> int:
    definition = shipped_agents()["orders"]
    if drop is not None:
        definition = definition.model_copy(update={"tools": [t for t in definition.tools if t != drop]})
    async with evals.db.tenant_session(tenant_id) as session:
        saved = await save_agent(session, tenant_id, definition, "test", registry=platform_registry())
    return saved.version


async def _run(evals: Evals, agent_version: str) -> tuple[str, bool, str]:
    run_id, handle = await start_run(
        evals.client, evals.db, tenant_id=evals.tenant_id, suite="golden", tasks=_tasks(), task_queue=evals.queue,
        agent_version=agent_version,
    )  # fmt: skip
    await handle.result()
    async with evals.db.tenant_session(evals.tenant_id) as session:
        [result] = await store.run_results(session, run_id)
        run = await store.get_run(session, run_id)
        found = await run_sql(session, "SELECT eval_tenant_id FROM eval_results WHERE run_id = :id", {"id": run_id})
    assert run is not None and run["agent_version"] == agent_version
    status = result["observation"]["turns"][0]["calls"][0]["status"]
    return status, bool(result["passed"]), str(found.scalar_one())


async def test_two_saved_versions_get_the_verdicts_their_definitions_earn(evals: Evals) -> None:
    assert "orders.cancel" in shipped_agents()["orders"].tools
    good = await _save(evals, evals.tenant_id)
    broken = await _save(evals, evals.tenant_id, drop="orders.cancel")
    # The newest saved version is the broken one; the run evaluates the version it names, not the newest.
    assert broken > good
    assert (await _run(evals, f"orders@{good}"))[:2] == ("ok", True)
    status, passed, eval_tenant = await _run(evals, f"orders@{broken}")
    assert not passed and status != "ok"
    # The eval tenant holds the version under its own number, its newest, so its agent resolved to it.
    async with evals.db.tenant_session(eval_tenant) as session:
        versions = (await run_sql(session, "SELECT name, version FROM agent_definitions")).all()
    assert [(r.name, r.version) for r in versions] == [("orders", broken)]


async def test_another_tenants_version_is_refused_and_nothing_runs(evals: Evals, eval_settings: Settings) -> None:
    other = await create_tenant(
        eval_settings.database_url or "", name=f"Other {uuid.uuid4().hex[:6]}", plan="pro",
        pepper=eval_settings.api_key_pepper.get_secret_value(),
    )  # fmt: skip
    theirs = [await _save(evals, other.tenant_id) for _ in range(3)]
    async with evals.db.tenant_session(evals.tenant_id) as session:
        ours = await run_sql(session, "SELECT COALESCE(MAX(version), 0) FROM agent_definitions WHERE name = 'orders'")
        before = len(await store.list_runs(session, after=None, limit=1000))
    beyond_ours = max(theirs[-1], int(ours.scalar_one()) + 1)
    for spec in (f"orders@{beyond_ours}", f"nosuchagent@{theirs[0]}"):
        with pytest.raises(AgentVersionNotFound):
            await start_run(
                evals.client, evals.db, tenant_id=evals.tenant_id, suite="golden", tasks=_tasks(),
                task_queue=evals.queue, agent_version=spec,
            )  # fmt: skip
    with pytest.raises(AgentVersionInvalid):
        await start_run(
            evals.client, evals.db, tenant_id=evals.tenant_id, suite="golden", tasks=_tasks(),
            task_queue=evals.queue, agent_version="orders@1;DROP TABLE",
        )  # fmt: skip
    async with evals.db.tenant_session(evals.tenant_id) as session:
        assert len(await store.list_runs(session, after=None, limit=1000)) == before
