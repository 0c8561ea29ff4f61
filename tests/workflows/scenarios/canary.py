"""`CanaryWorkflow` scenarios: a canary promoted on its owner's approval, and one rolled back for its errors;
an agent version's canary promoted (the version made active by its activity; the workflow's commands are
those of every kind)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.client import WorkflowHandle

from agents.definitions import save_agent, shipped_agents
from app.tools import platform_registry
from contracts.canary import (
    AgentVersionSubject,
    CanaryApproval,
    CanaryInput,
    CanaryResult,
    CanaryRule,
    CanaryStatus,
)
from contracts.names import WF_ROUTER_CANARY
from router import canary_store
from tests.router.canary_seed import open_canary, seed_arms
from tests.workflows.scenarios import Recording

RULE = CanaryRule(min_turns=150, max_error_increase=0.1, max_latency_increase=0.5, max_cost_increase=0.5)


async def _start(rec: Recording, tenant_id: str, canary_id: str, approval: bool) -> WorkflowHandle:
    return await rec.client.start_workflow(
        WF_ROUTER_CANARY,
        CanaryInput(
            tenant_id=tenant_id, canary_id=canary_id, require_approval=approval, check_every=timedelta(seconds=1)
        ),
        id=canary_store.workflow_id(tenant_id, canary_id),
        task_queue=rec.queue,
        result_type=CanaryResult,
    )


async def router_canary(rec: Recording) -> list[WorkflowHandle]:
    approved_tenant = await rec.new_tenant("canary approved")
    canary = await open_canary(rec.db, approved_tenant, rule=RULE, require_approval=True)
    await seed_arms(rec.db, approved_tenant, canary.assignment, per_arm=200)
    approved = await _start(rec, approved_tenant, canary.id, True)
    async with asyncio.timeout(60):
        while await approved.query("status") != CanaryStatus.AWAITING_APPROVAL.value:
            await asyncio.sleep(0.2)
    await approved.execute_update("approve", CanaryApproval(actor="owner"), result_type=str)
    assert (await approved.result()).status == CanaryStatus.PROMOTED

    failing_tenant = await rec.new_tenant("canary failing")
    failing = await open_canary(rec.db, failing_tenant, rule=RULE)
    await seed_arms(rec.db, failing_tenant, failing.assignment, per_arm=200, canary_failures=0.4)
    rolled = await _start(rec, failing_tenant, failing.id, False)
    assert (await rolled.result()).status == CanaryStatus.ROLLED_BACK
    return [approved, rolled]


async def agent_version_canary(rec: Recording) -> list[WorkflowHandle]:
    tenant = await rec.new_tenant("canary agent version")
    base = shipped_agents()["support"]
    async with rec.db.tenant_session(tenant) as session:
        for prompt in ("Candidate prompt.", "Active prompt."):
            definition = base.model_copy(update={"system_prompt": prompt})
            await save_agent(session, tenant, definition, "recording", registry=platform_registry())
    subject = AgentVersionSubject(agent="support", version=1, control_version=2)
    canary = await open_canary(rec.db, tenant, rule=RULE, subject=subject)
    await seed_arms(rec.db, tenant, canary.assignment, per_arm=200)
    promoted = await _start(rec, tenant, canary.id, False)
    assert (await promoted.result()).status == CanaryStatus.PROMOTED
    return [promoted]
