"""An agent-version canary's arms count each turn with the agent that answered it: turns handed off to the
agent count, turns handed off away from it do not; a turn that failed counts with the agent that had it, kept
on its question; a turn without either (an answer or a failure from before those columns) counts with the agent
its conversation started with."""

from __future__ import annotations

from contracts.canary import AgentVersionSubject
from db.database import Database
from router import canary_store
from router.canary import SubjectCanary
from tests.router.canary_seed import open_canary, seed_arms
from tests.router.conftest import Running
from tests.router.test_canary_workflow import _tenant


async def test_turns_count_with_the_agent_that_answered(running: Running, app_database: Database) -> None:
    tenant, other = await _tenant(running), await _tenant(running)
    canary = await open_canary(app_database, tenant, subject=AgentVersionSubject(agent="desk", version=1))
    assert isinstance(canary.assignment, SubjectCanary)
    # Started with the desk and answered by it; answered before the column (unknown): the desk's.
    await seed_arms(app_database, tenant, canary.assignment, per_arm=10, agent="desk", answered_by="desk", seed=1)
    await seed_arms(app_database, tenant, canary.assignment, per_arm=5, agent="desk", seed=2)
    # Started elsewhere and handed off to the desk: the desk's.
    await seed_arms(app_database, tenant, canary.assignment, per_arm=7, agent="orders", answered_by="desk", seed=3)
    # Started with the desk and handed off away from it: not the desk's.
    await seed_arms(app_database, tenant, canary.assignment, per_arm=11, agent="desk", answered_by="orders", seed=4)
    # Without an answer: the agent the conversation started with (half the canary's turns fail here).
    await seed_arms(app_database, tenant, canary.assignment, per_arm=4, agent="desk", canary_failures=1.0, seed=5)
    # Failed after a handoff to the desk: the desk's; failed after a handoff away from it: not the desk's.
    arm = canary.assignment
    await seed_arms(app_database, tenant, arm, per_arm=3, agent="orders", canary_failures=1.0, failed_by="desk", seed=7)
    await seed_arms(app_database, tenant, arm, per_arm=6, agent="desk", canary_failures=1.0, failed_by="orders", seed=8)
    # Another tenant's desk turns are never this canary's.
    await seed_arms(app_database, other, canary.assignment, per_arm=9, agent="desk", answered_by="desk", seed=6)

    async with app_database.tenant_session(tenant) as session:
        treated, control = await canary_store.arms(session, canary)
    # The control arm's turns of seeds 7 and 8 were answered, their agent not recorded: the conversation's.
    assert (treated.turns, control.turns) == (10 + 5 + 7 + 4 + 3, 10 + 5 + 7 + 4 + 6)
    assert (treated.failed, control.failed) == (4 + 3, 0)
